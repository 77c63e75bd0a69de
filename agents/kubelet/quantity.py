"""resource.Quantity to numbers (pure): cpu in millicores, everything else in units (bytes for memory)."""

from __future__ import annotations

from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}


def parse(text: str | int | float) -> Decimal:
    """"500m" -> 0.5, "64Mi" -> 67108864, "1e3" -> 1000."""
    s = str(text).strip()
    for suffix, mult in _BINARY.items():
        if s.endswith(suffix):
            return Decimal(s[:-2]) * mult
    if s and s[-1] in _DECIMAL and not s[-1].isdigit():
        return Decimal(s[:-1]) * _DECIMAL[s[-1]]
    return Decimal(s)


def millicores(text: str | int | float) -> int:
    """CPU rounded up to whole millicores, as the kubelet's MilliValue."""
    v = parse(text) * 1000
    return int(v) if v == int(v) else int(v) + 1


def units(text: str | int | float) -> int:
    """A Quantity's Value(): rounded up to a whole number."""
    v = parse(text)
    return int(v) if v == int(v) else int(v) + 1
