"""A record of every pod a namespace ever had, kept from a list + watch through the API server for the whole of a
test (it rides out API server restarts and relists on 410), so a test can say afterwards that no controller ever
created a pod twice or ran more pods than it should have at any revision.

    with PodLedger(cp.admin_kubeconfig, "ns") as ledger:
        ...
        assert ledger.max_live_total <= 7 and ledger.uids_by_owner()[rs_uid] == 6

A pod is *live* from its creation until it is deleted or gets a deletionTimestamp (as a ReplicaSet counts active
pods). Counts are taken after every watch event, i.e. at every revision of the store.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from typing import Any

from tests.controllers.fakenodes import APIError, _Client

WATCH_TIMEOUT_S = 5


def owner_uid(pod: dict[str, Any]) -> str:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return ""


class PodLedger:
    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.api = _Client(kubeconfig)
        self.path = f"/api/v1/namespaces/{namespace}/pods"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()
        self.pods: dict[str, dict[str, Any]] = {}  # uid -> last state seen (gone ones included)
        self.gone: set[str] = set()
        self.max_live_total = 0
        self.max_live_by_owner: Counter[str] = Counter()
        self.lists = 0

    # ------------------------------------------------------------------ reading
    def live(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p for uid, p in self.pods.items() if self._is_live(uid, p)]

    def uids_by_owner(self) -> Counter[str]:
        """How many distinct pods (uids) each controller owner ever had."""
        with self._lock:
            return Counter(owner_uid(p) for p in self.pods.values())

    def names_reused(self) -> list[str]:
        with self._lock:
            names = Counter(p["metadata"]["name"] for p in self.pods.values())
        return sorted(n for n, c in names.items() if c > 1)

    # ------------------------------------------------------------------ recording
    def _is_live(self, uid: str, pod: dict[str, Any]) -> bool:
        return uid not in self.gone and not pod["metadata"].get("deletionTimestamp")

    def _count(self) -> None:
        by_owner: Counter[str] = Counter(owner_uid(p) for uid, p in self.pods.items() if self._is_live(uid, p))
        self.max_live_total = max(self.max_live_total, sum(by_owner.values()))
        for owner, n in by_owner.items():
            self.max_live_by_owner[owner] = max(self.max_live_by_owner[owner], n)

    def _apply(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            self.pods[uid] = pod
            if kind == "DELETED":
                self.gone.add(uid)
            self._count()

    def _relist(self) -> str:
        listed = self.api.call("GET", self.path)
        with self._lock:
            present = set()
            for pod in listed.get("items") or []:
                uid = pod["metadata"]["uid"]
                present.add(uid)
                self.pods[uid] = pod
            self.gone |= set(self.pods) - present
            self._count()
            self.lists += 1
        self.synced.set()
        return str(listed["metadata"]["resourceVersion"])

    def _loop(self) -> None:
        rv = ""
        while not self._stop.is_set():
            try:
                if not rv:
                    rv = self._relist()
                for ev in self.api.watch(self.path, rv, WATCH_TIMEOUT_S):
                    if self._stop.is_set():
                        return
                    obj = ev.get("object") or {}
                    if ev.get("type") == "ERROR":
                        rv = "" if obj.get("code") == 410 else rv
                        break
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    if ev.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self._apply(str(ev["type"]), obj)
            except APIError as e:
                if e.code == 410:
                    rv = ""
                else:
                    time.sleep(0.2)
            except (OSError, http.client.HTTPException, ValueError):  # the API server is away (a restart)
                time.sleep(0.2)

    # ------------------------------------------------------------------ life
    def __enter__(self) -> PodLedger:
        self._thread = threading.Thread(target=self._loop, name="podledger", daemon=True)
        self._thread.start()
        if not self.synced.wait(30):
            raise AssertionError("the pod ledger could not list pods")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)  # a daemon thread: a watch still open ends with its timeout
