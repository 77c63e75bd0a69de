"""Cron schedules as kube-apiserver validates them and the CronJob controller reads them (robfig/cron v3
`ParseStandard`), pure; the one parser of both (`apiserver.validation.workloads.cron_error`,
`controllers.cronjob.reconcile`).

Five fields (minute hour day-of-month month day-of-week) with `*`, `?`, ranges, steps, lists and month/day names;
the descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly and `@every <duration>`; an optional
`TZ=`/`CRON_TZ=` prefix (which the API server refuses on create, and the controller warns about). Error texts
are robfig's, because the API server returns them in its Invalid causes and the controller puts them in its
UnparseableSchedule event.

`Schedule.next(t)` is the first activation strictly after `t` (epoch seconds), found field by field in the
schedule's time zone as robfig does, or None when none exists within five years (e.g. "0 0 31 2 *").
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass

UTC = datetime.UTC
MONTHS = {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
YEAR_LIMIT = 5


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    values: frozenset[int]
    star: bool  # "*" or "?" without a step > 1: matters for the day-of-month / day-of-week rule


@dataclass(frozen=True)
class Schedule:
    minute: Field
    hour: Field
    dom: Field
    month: Field
    dow: Field
    tz: datetime.tzinfo = UTC
    every: float | None = None  # @every: a constant delay instead of fields

    def _day_matches(self, t: datetime.datetime) -> bool:
        dom = t.day in self.dom.values
        dow = (t.isoweekday() % 7) in self.dow.values
        if self.dom.star or self.dow.star:
            return dom and dow
        return dom or dow

    def next(self, after: float) -> float | None:
        """The first activation time strictly after `after` (epoch seconds), or None within five years."""
        if self.every is not None:
            return float(int(after) + self.every)
        utc = datetime.datetime.fromtimestamp(int(after) + 1, UTC)  # the next whole second, as robfig
        local = utc.astimezone(self.tz)
        limit = local.year + YEAR_LIMIT
        added = False
        while True:
            if local.year > limit:
                return None
            wrapped = False
            while local.month not in self.month.values:
                if not added:
                    added = True
                    local = _wall(local.year, local.month, 1, 0, 0, self.tz)
                year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
                local = _wall(year, month, 1, 0, 0, self.tz)
                if local.month == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not self._day_matches(local):
                if not added:
                    added = True
                    local = _wall(local.year, local.month, local.day, 0, 0, self.tz)
                d = local.date() + datetime.timedelta(days=1)
                local = _wall(d.year, d.month, d.day, 0, 0, self.tz)
                if local.day == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while local.hour not in self.hour.values:
                if not added:
                    added = True
                    local = local.replace(minute=0, second=0, microsecond=0)
                local = _plus(local, 3600, self.tz)
                if local.hour == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            while local.minute not in self.minute.values:
                if not added:
                    added = True
                    local = local.replace(second=0, microsecond=0)
                local = _plus(local, 60, self.tz)
                if local.minute == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            if local.second != 0:
                # every field but seconds matches: the activation is this minute's second 0 if still ahead
                local = _plus(local.replace(second=0, microsecond=0), 60, self.tz)
                continue
            return local.astimezone(UTC).timestamp()


def _wall(year: int, month: int, day: int, hour: int, minute: int, tz: datetime.tzinfo) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=tz).astimezone(UTC).astimezone(tz)


def _plus(local: datetime.datetime, seconds: int, tz: datetime.tzinfo) -> datetime.datetime:
    """Absolute addition (across a DST change an hour step may skip or repeat a wall-clock hour, as in Go)."""
    return (local.astimezone(UTC) + datetime.timedelta(seconds=seconds)).astimezone(tz)


def load_zone(name: str) -> datetime.tzinfo:
    """time.LoadLocation: "" and "UTC" are UTC, "Local" is taken as UTC here (the manager runs in UTC)."""
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ScheduleError(f"unknown time zone {name}") from e


def parse(spec: str, tz: datetime.tzinfo = UTC) -> Schedule:
    """cron.ParseStandard."""
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith("TZ=") or spec.startswith("CRON_TZ="):
        head, _, rest = spec.partition(" ")
        name = head.split("=", 1)[1]
        try:
            tz = load_zone(name)
        except ScheduleError as e:
            raise ScheduleError(f"provided bad location {name}: {e}") from e
        spec = rest.strip()
    if spec.startswith("@"):
        return _descriptor(spec, tz)
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    return Schedule(minute=_field(fields[0], 0, 59, {}), hour=_field(fields[1], 0, 23, {}),
                    dom=_field(fields[2], 1, 31, {}), month=_field(fields[3], 1, 12, MONTHS),
                    dow=_field(fields[4], 0, 6, DAYS), tz=tz)


def _descriptor(spec: str, tz: datetime.tzinfo) -> Schedule:
    if spec in DESCRIPTORS:
        return parse(DESCRIPTORS[spec], tz)
    if spec.startswith("@every "):
        text = spec[len("@every "):].strip()
        seconds = _duration(text)
        if seconds is None:
            raise ScheduleError(f'failed to parse duration {spec}: time: invalid duration "{text}"')
        every = max(1, int(seconds))
        star = Field(frozenset(), True)
        return Schedule(star, star, star, star, star, tz, every=float(every))
    raise ScheduleError(f"unrecognized descriptor: {spec}")


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _duration(text: str) -> float | None:
    """Go's time.ParseDuration for unsigned durations (h, m, s, ms, us, µs, ns)."""
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and text else None


def _field(expr: str, lo: int, hi: int, names: dict[str, int]) -> Field:
    values: set[int] = set()
    star = False
    for part in expr.split(","):
        vals, part_star = _range(part, lo, hi, names)
        values |= vals
        star = star or part_star
    return Field(frozenset(values), star)


def _range(expr: str, lo: int, hi: int, names: dict[str, int]) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    star = False
    if low_high[0] in ("*", "?"):
        start, end, star = lo, hi, True
    else:
        start = _value(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _value(low_high[1], names)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if single:  # "N/step" means N-max/step
            end = hi
        if step > 1:
            star = False
    else:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < lo:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ScheduleError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _value(text: str, names: dict[str, int]) -> int:
    named = names.get(text.lower())
    return named if named is not None else _int(text)


def _int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
                            ) from None
    if value < 0:
        raise ScheduleError(f"negative number ({value}) not allowed: {text}")
    return value
