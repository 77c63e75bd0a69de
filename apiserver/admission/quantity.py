"""resource.Quantity parsing and canonical printing, enough for limits, requests and quota arithmetic."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10) ** 3,
           "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
           "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
           "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}
_RE = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkMGTPE]i?|)$")
MAX_QUANTITY_CHARS = 64


class QuantityError(ValueError):
    pass


def parse(text: str | int | float) -> Decimal:
    if isinstance(text, (int, float)):
        return Decimal(str(text))
    if len(text) > MAX_QUANTITY_CHARS:
        raise QuantityError(f"quantity too long: {text[:MAX_QUANTITY_CHARS]}...")
    m = _RE.match(text.strip())
    if not m or m.group(2) in ("ni", "ui", "mi", "ki"):
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:
        raise QuantityError(f"invalid quantity {text!r}") from exc
    suffix = m.group(2)
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX[suffix]


def format_quantity(value: Decimal, binary: bool = False) -> str:
    """Canonical form: whole numbers plain (or with the largest exact binary suffix when ``binary``),
    fractions in milli-units, as kubectl shows them."""
    if value == value.to_integral_value():
        n = int(value)
        if binary and n:
            for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
                if n % int(_SUFFIX[suffix]) == 0:
                    return f"{n // int(_SUFFIX[suffix])}{suffix}"
        return str(n)
    milli = value * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return f"{int((value * Decimal(10) ** 9).to_integral_value())}n"
