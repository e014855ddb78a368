"""EventBridge Scheduler expressions: validate cron(), rate() and at(), and compute firings.

Scheduler refuses malformed expressions but the local moto emulator accepts anything, so the API
validates them here to answer 400 as AWS would; and `make run`, playing Scheduler's part, needs to
know when a stored schedule is next due. Supported, after the Scheduler user guide:

- `cron(minutes hours day-of-month month day-of-week year)`: numbers, `*`, lists `,`, ranges `-`
  and steps `/` (`*/n`, `a/n`, `a-b/n`); month names JAN-DEC and weekday names SUN-SAT, any case;
  `?` in exactly one of the two day fields. Day-of-month may instead be `L` (last day), `LW`
  (last weekday) or `nW` (weekday nearest day n); day-of-week may be `L` (Saturday), `dL` (last
  weekday d of the month) or `d#k` (k-th weekday d); these special forms must be the whole field.
  Ranges that wrap around (`FRI-MON`, `22-2`) are rejected: write them as two ranges.
- `rate(n unit)`: n a positive integer; `minute`/`hour`/`day` when n is 1, plural otherwise.
- `at(yyyy-mm-ddThh:mm:ss)`: a local time in the schedule's time zone.

Daylight saving time, as Scheduler documents it: a cron time that does not exist locally (clocks
going forward) is skipped, one that occurs twice (clocks going back) fires once, the first time;
a rate counts fixed durations (a day is 24 hours).
"""

from __future__ import annotations

import calendar
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.errors import InvalidRequest

DayRule = Callable[[date], bool]

_EXPRESSION = re.compile(r"(cron|rate|at)\((.*)\)", re.DOTALL)
_AT_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_RATE_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_SATURDAY = 7


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)


_MINUTES = _Field("minutes", 0, 59)
_HOURS = _Field("hours", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, {name: i for i, name in enumerate(_MONTH_NAMES, start=1)})
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, {name: i for i, name in enumerate(_WEEKDAY_NAMES, 1)})
_YEAR = _Field("year", 1970, 2199)


class Schedule(ABC):
    """A validated expression; `next_after` answers when it fires next, in UTC."""

    expression: str
    timezone: str

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after `moment` (aware), or None if there is none."""


@dataclass(frozen=True)
class AtSchedule(Schedule):
    expression: str
    timezone: str
    when: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        return self.when if self.when > _utc(moment) else None


@dataclass(frozen=True)
class RateSchedule(Schedule):
    expression: str
    timezone: str
    interval: timedelta
    start: datetime | None = None

    def next_after(self, moment: datetime) -> datetime | None:
        now = _utc(moment)
        anchor = now if self.start is None else _utc(self.start)
        if anchor > now:
            return anchor
        periods = (now - anchor) // self.interval + 1
        return anchor + periods * self.interval


@dataclass(frozen=True)
class CronSchedule(Schedule):
    expression: str
    timezone: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_matches: DayRule = field(compare=False, repr=False)

    def next_after(self, moment: datetime) -> datetime | None:
        zone = ZoneInfo(self.timezone)
        now = _utc(moment)
        local = now.astimezone(zone)
        today = local.date()
        for year in self.years:
            if year < local.year:
                continue
            for month in self.months:
                if (year, month) < (local.year, local.month):
                    continue
                for day in range(1, calendar.monthrange(year, month)[1] + 1):
                    candidate_day = date(year, month, day)
                    if candidate_day < today or not self.day_matches(candidate_day):
                        continue
                    found = self._first_time_on(candidate_day, zone, now)
                    if found is not None:
                        return found
        return None

    def _first_time_on(self, day: date, zone: ZoneInfo, now: datetime) -> datetime | None:
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                instant = wall.astimezone(UTC)
                if instant <= now:
                    continue
                if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
                    return instant
        return None


def parse(expression: str, timezone: str, *, start: datetime | None = None) -> Schedule:
    """Validate a Scheduler expression and its IANA time zone, or raise InvalidRequest.

    `start` (aware) anchors a rate schedule, like Scheduler's StartDate; without it a rate
    schedule fires one interval after whatever moment it is asked about.
    """
    _zone(timezone)
    match = _EXPRESSION.fullmatch(expression)
    if match is None:
        raise InvalidRequest(
            f"schedule expression {expression!r} must be cron(...), rate(...) or at(...)"
        )
    kind, body = match.groups()
    if kind == "rate":
        return RateSchedule(expression, timezone, _rate_interval(body), start)
    if kind == "at":
        return AtSchedule(expression, timezone, _at_instant(body, timezone))
    return _cron(expression, timezone, body)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidRequest(
            f"time zone {name!r} is not a known IANA name such as 'Europe/Paris' or 'UTC'"
        ) from exc


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be a timezone-aware datetime")
    return moment.astimezone(UTC)


# A rate longer than this is no scaling schedule (and past timedelta's range a mistake).
RATE_MAX_DAYS = 3660


def _rate_interval(body: str) -> timedelta:
    parts = body.split()
    if len(parts) != 2 or not _is_number(parts[0]):
        raise InvalidRequest(f"rate({body}) must be rate(value unit), e.g. rate(5 minutes)")
    if len(parts[0]) > len(str(RATE_MAX_DAYS * 24 * 60)):
        raise InvalidRequest(f"rate({body}): the interval is at most {RATE_MAX_DAYS} days")
    value, unit = int(parts[0]), parts[1]
    if value < 1:
        raise InvalidRequest(f"rate({body}): the value must be a positive integer")
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise InvalidRequest(f"rate({body}): the unit must be minutes, hours or days")
    expected = singular if value == 1 else f"{singular}s"
    if unit != expected:
        raise InvalidRequest(f"rate({body}): with a value of {value} the unit must be {expected!r}")
    interval = value * _RATE_UNITS[singular]
    if interval > timedelta(days=RATE_MAX_DAYS):
        raise InvalidRequest(f"rate({body}): the interval is at most {RATE_MAX_DAYS} days")
    return interval


def _at_instant(body: str, timezone: str) -> datetime:
    message = f"at({body}) must be a valid date and time as at(yyyy-mm-ddThh:mm:ss)"
    if not _AT_FORMAT.fullmatch(body):
        raise InvalidRequest(message)
    try:
        local = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
    except ValueError as exc:
        raise InvalidRequest(message) from exc
    return local.replace(tzinfo=_zone(timezone)).astimezone(UTC)


def _cron(expression: str, timezone: str, body: str) -> CronSchedule:
    fields = body.split()
    if len(fields) != 6:
        raise InvalidRequest(
            f"cron expression has {len(fields)} fields, AWS needs 6: "
            "minutes hours day-of-month month day-of-week year"
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    by_date = _day_of_month_rule(day_of_month)
    by_weekday = _day_of_week_rule(day_of_week)
    if (by_date is None) == (by_weekday is None):
        raise InvalidRequest(
            "cron: exactly one of day-of-month and day-of-week must be '?' "
            f"(got {day_of_month!r} and {day_of_week!r})"
        )
    day_rule = by_date or by_weekday
    assert day_rule is not None
    return CronSchedule(
        expression,
        timezone,
        minutes=tuple(sorted(_values(minutes, _MINUTES))),
        hours=tuple(sorted(_values(hours, _HOURS))),
        months=tuple(sorted(_values(month, _MONTH))),
        years=tuple(sorted(_values(year, _YEAR))),
        day_matches=day_rule,
    )


def _day_of_month_rule(text: str) -> DayRule | None:
    upper = text.upper()
    if upper == "?":
        return None
    if upper == "L":
        return lambda day: day.day == _last_day(day)
    if upper == "LW":
        return lambda day: day.day == _nearest_weekday(day, _last_day(day))
    if upper.endswith("W"):
        target = _number(upper[:-1], _DAY_OF_MONTH)
        return lambda day: day.day == _nearest_weekday(day, target)
    if "L" in upper or "W" in upper:
        raise InvalidRequest(f"cron day-of-month {text!r}: L and W must be the whole field")
    days = _values(text, _DAY_OF_MONTH)
    return lambda day: day.day in days


def _day_of_week_rule(text: str) -> DayRule | None:
    upper = text.upper()
    if upper == "?":
        return None
    if upper == "L":
        return lambda day: _weekday(day) == _SATURDAY
    if upper.endswith("L") and "," not in upper and "-" not in upper:
        last = _number(upper[:-1], _DAY_OF_WEEK)
        return lambda day: _weekday(day) == last and day.day + 7 > _last_day(day)
    if "#" in upper:
        weekday_text, _, nth_text = upper.partition("#")
        if "," in weekday_text or "-" in weekday_text or nth_text not in {"1", "2", "3", "4", "5"}:
            raise InvalidRequest(f"cron day-of-week {text!r}: use d#k with k from 1 to 5")
        weekday, nth = _number(weekday_text, _DAY_OF_WEEK), int(nth_text)
        return lambda day: _weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    if "L" in upper:
        raise InvalidRequest(f"cron day-of-week {text!r}: L must be the whole field (L or dL)")
    weekdays = _values(text, _DAY_OF_WEEK)
    return lambda day: _weekday(day) in weekdays


def _values(text: str, spec: _Field) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values.update(_part_values(part, spec))
    return frozenset(values)


def _part_values(part: str, spec: _Field) -> range:
    base, slash, step_text = part.partition("/")
    if base == "*":
        first, last = spec.low, spec.high
    elif "-" in base:
        low_text, _, high_text = base.partition("-")
        first, last = _number(low_text, spec), _number(high_text, spec)
        if first > last:
            raise InvalidRequest(
                f"cron {spec.name} range {base!r} wraps around; split it into two ranges"
            )
    else:
        first = _number(base, spec)
        last = spec.high if slash else first
    step = 1
    if slash:
        if not _is_number(step_text) or int(step_text) < 1:
            raise InvalidRequest(f"cron {spec.name} step in {part!r} must be a positive integer")
        step = int(step_text)
    return range(first, last + 1, step)


def _number(token: str, spec: _Field) -> int:
    named = spec.names.get(token.upper())
    if named is not None:
        return named
    if not _is_number(token):
        raise InvalidRequest(f"cron {spec.name} value {token!r} is not valid")
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise InvalidRequest(
            f"cron {spec.name} value {value} is out of range {spec.low}-{spec.high}"
        )
    return value


def _is_number(token: str) -> bool:
    return token.isascii() and token.isdigit()


def _weekday(day: date) -> int:
    """AWS numbering: 1 is Sunday, 7 is Saturday."""
    return day.isoweekday() % 7 + 1


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, target: int) -> int | None:
    """The Monday-to-Friday day of `day`'s month nearest `target`, never leaving the month."""
    last = _last_day(day)
    if target > last:
        return None
    weekday = date(day.year, day.month, target).weekday()
    if weekday == 5:
        return target - 1 if target > 1 else target + 2
    if weekday == 6:
        return target + 1 if target < last else target - 2
    return target
