"""resource.Quantity parsing for requests and capacities: CPU in millicores, everything else in base units."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


class QuantityError(ValueError):
    """A quantity the API server should have refused."""


def parse(value: object) -> Decimal:
    """The exact value of a Quantity string (or number)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    if not isinstance(value, str) or not value:
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    s = value.strip()
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"):
        if s.endswith(suffix):
            return _num(s[: -len(suffix)], value) * _SUFFIXES[suffix]
    if s[-1] in "numkMGTPE":
        return _num(s[:-1], value) * _SUFFIXES[s[-1]]
    return _num(s, value)


def _num(s: str, orig: str) -> Decimal:
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise QuantityError(f"quantities must match the regular expression: {orig!r}") from None
    if not d.is_finite():
        raise QuantityError(f"quantities must match the regular expression: {orig!r}")
    return d


def milli(value: object) -> int:
    """CPU as millicores, rounded up (Quantity.MilliValue)."""
    return math.ceil(parse(value) * 1000)


def units(value: object) -> int:
    """Any other resource in its base unit, rounded up (Quantity.Value)."""
    return math.ceil(parse(value))


def amount(resource: str, value: object) -> int:
    """The integer the scheduler compares for `resource`: millicores for cpu, base units otherwise."""
    return milli(value) if resource == "cpu" else units(value)
