"""Completion indexes as the Job API writes them: "1,3-5,7" (status.completedIndexes, successPolicy rules).

A set of ints is enough here (kube keeps ordered intervals to bound memory for huge Jobs); what users see is the
string, which is the same.
"""

from __future__ import annotations

from typing import Any

COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"
UNKNOWN = -1


def parse(text: str | None, completions: int) -> set[int]:
    """parseIndexesFromString: "1,3-5" -> {1, 3, 4, 5}, dropping what does not parse or is >= completions."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            lo = int(first)
            hi = int(last) if last else lo
        except ValueError:
            continue
        out.update(range(max(lo, 0), min(hi, completions - 1) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """The inverse of `parse`: sorted, a run of three or more consecutive indexes as "first-last"."""
    runs: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if i == j:
            runs.append(str(ordered[i]))
        elif j == i + 1:  # orderedIntervals.String writes a run of two as "a,b"
            runs.append(f"{ordered[i]},{ordered[j]}")
        else:
            runs.append(f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)


def of_pod(pod: dict[str, Any]) -> int:
    """getCompletionIndex: the pod's index annotation (the label is informational), or UNKNOWN."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX_KEY)
    if value is None:
        return UNKNOWN
    try:
        ix = int(value)
    except ValueError:
        return UNKNOWN
    return ix if ix >= 0 else UNKNOWN
