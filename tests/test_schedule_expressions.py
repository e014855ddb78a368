"""Scheduler expressions are validated like AWS does and fire when AWS would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.schedules import AtSchedule, CronSchedule, RateSchedule, parse


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def firings(expression: str, after: str, count: int, timezone: str = "UTC") -> list[str]:
    schedule = parse(expression, timezone)
    moment: datetime | None = utc(after)
    found: list[str] = []
    for _ in range(count):
        assert moment is not None
        moment = schedule.next_after(moment)
        assert moment is not None
        found.append(moment.strftime("%Y-%m-%dT%H:%M"))
    return found


def test_parse_cron_daily_paris_fires_at_local_eight_across_dst() -> None:
    schedule = parse("cron(0 8 * * ? *)", "Europe/Paris")

    assert isinstance(schedule, CronSchedule)
    assert schedule.next_after(utc("2026-03-28T12:00")) == utc("2026-03-29T06:00")
    assert schedule.next_after(utc("2026-03-27T12:00")) == utc("2026-03-28T07:00")


@pytest.mark.parametrize(
    ("expression", "timezone", "fragment"),
    [
        ("cron(bad)", "UTC", "6"),
        ("cron(0 8 * * *)", "UTC", "6"),
        ("cron(0 8 * * * *)", "UTC", "exactly one"),
        ("cron(0 8 ? * ? *)", "UTC", "exactly one"),
        ("cron(0 8 1 * MON *)", "UTC", "exactly one"),
        ("cron(60 8 * * ? *)", "UTC", "minutes value 60 is out of range 0-59"),
        ("cron(0 24 * * ? *)", "UTC", "hours value 24"),
        ("cron(0 8 0 * ? *)", "UTC", "day-of-month value 0"),
        ("cron(0 8 * 13 ? *)", "UTC", "month value 13"),
        ("cron(0 8 ? * 8 *)", "UTC", "day-of-week value 8"),
        ("cron(0 8 * * ? 2200)", "UTC", "year value 2200"),
        ("cron(0 8 * FOO ? *)", "UTC", "month value 'FOO'"),
        ("cron(0 22-2 * * ? *)", "UTC", "wraps around"),
        ("cron(*/0 8 * * ? *)", "UTC", "step"),
        ("cron(0 8 1,,2 * ? *)", "UTC", "day-of-month value ''"),
        ("cron(0 8 ? * 2#6 *)", "UTC", "d#k"),
        ("cron(0 8 L,1 * ? *)", "UTC", "whole field"),
        ("cron(0 8 ? * 2L,3 *)", "UTC", "whole field"),
        ("rate(0 minutes)", "UTC", "positive"),
        ("rate(1 minutes)", "UTC", "'minute'"),
        ("rate(5 minute)", "UTC", "'minutes'"),
        ("rate(5 weeks)", "UTC", "minutes, hours or days"),
        ("rate(-5 minutes)", "UTC", "rate(value unit)"),
        ("rate(5)", "UTC", "rate(value unit)"),
        ("rate(3661 days)", "UTC", "at most 3660 days"),
        ("rate(122853960772749586301900993108398 hours)", "UTC", "at most 3660 days"),
        ("at(2026-02-30T08:00:00)", "UTC", "yyyy-mm-dd"),
        ("at(2026-3-1T08:00:00)", "UTC", "yyyy-mm-dd"),
        ("every(5 minutes)", "UTC", "cron(...), rate(...) or at(...)"),
        ("cron(0 8 * * ? *)", "Mars/Olympus", "IANA"),
        ("rate(5 minutes)", "", "IANA"),
    ],
)
def test_parse_invalid_expression_raises_invalid_request(
    expression: str, timezone: str, fragment: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(expression, timezone)

    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minute)", "rate(1 hour)", "rate(1 day)", "rate(5 minutes)", "rate(2 days)"],
)
def test_parse_rate_accepts_aws_units(expression: str) -> None:
    assert isinstance(parse(expression, "UTC"), RateSchedule)


def test_rate_next_after_without_start_is_one_interval_later() -> None:
    schedule = parse("rate(5 minutes)", "Europe/Paris")

    assert schedule.next_after(utc("2026-01-01T10:02")) == utc("2026-01-01T10:07")


def test_rate_next_after_follows_grid_from_start() -> None:
    schedule = parse("rate(2 hours)", "UTC", start=utc("2026-01-01T00:30"))

    assert schedule.next_after(utc("2025-12-31T00:00")) == utc("2026-01-01T00:30")
    assert schedule.next_after(utc("2026-01-01T00:30")) == utc("2026-01-01T02:30")
    assert schedule.next_after(utc("2026-01-01T05:00")) == utc("2026-01-01T06:30")


def test_rate_days_counts_24_hours_across_dst() -> None:
    schedule = parse("rate(1 day)", "Europe/Paris", start=utc("2026-03-28T07:00"))

    assert schedule.next_after(utc("2026-03-28T07:00")) == utc("2026-03-29T07:00")


def test_at_future_fires_once_at_local_time() -> None:
    schedule = parse("at(2026-07-14T10:00:00)", "Europe/Paris")

    assert isinstance(schedule, AtSchedule)
    assert schedule.next_after(utc("2026-07-14T07:59")) == utc("2026-07-14T08:00")
    assert schedule.next_after(utc("2026-07-14T08:00")) is None


def test_at_past_returns_none() -> None:
    schedule = parse("at(2020-01-01T00:00:00)", "UTC")

    assert schedule.next_after(utc("2026-01-01T00:00")) is None


def test_next_after_rejects_naive_moment() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse("rate(5 minutes)", "UTC").next_after(datetime(2026, 1, 1))


def test_cron_next_after_is_strictly_after() -> None:
    assert firings("cron(0 8 * * ? *)", "2026-01-01T08:00", 2) == [
        "2026-01-02T08:00",
        "2026-01-03T08:00",
    ]


def test_cron_ranges_steps_and_lists() -> None:
    assert firings("cron(0/20 9-10,14 * * ? *)", "2026-01-01T09:30", 5) == [
        "2026-01-01T09:40",
        "2026-01-01T10:00",
        "2026-01-01T10:20",
        "2026-01-01T10:40",
        "2026-01-01T14:00",
    ]
    assert firings("cron(5 */12 1-10/3 * ? *)", "2026-01-01T12:05", 3) == [
        "2026-01-04T00:05",
        "2026-01-04T12:05",
        "2026-01-07T00:05",
    ]


def test_cron_month_and_weekday_names_any_case() -> None:
    assert firings("cron(0 9 ? jan-Mar MON-FRI *)", "2026-03-27T10:00", 2) == [
        "2026-03-30T09:00",
        "2026-03-31T09:00",
    ]
    assert firings("cron(0 9 ? * 1,7 *)", "2026-01-01T00:00", 2) == [
        "2026-01-03T09:00",
        "2026-01-04T09:00",
    ]


def test_cron_year_field_limits_firings() -> None:
    assert firings("cron(0 0 1 JAN ? 2027-2028)", "2026-06-01T00:00", 2) == [
        "2027-01-01T00:00",
        "2028-01-01T00:00",
    ]
    assert parse("cron(0 0 1 1 ? 2027)", "UTC").next_after(utc("2027-01-01T00:00")) is None


def test_cron_impossible_date_never_fires() -> None:
    assert parse("cron(0 0 30 2 ? *)", "UTC").next_after(utc("2026-01-01T00:00")) is None


def test_cron_last_day_and_nearest_weekday() -> None:
    assert firings("cron(0 12 L * ? *)", "2026-01-31T13:00", 2) == [
        "2026-02-28T12:00",
        "2026-03-31T12:00",
    ]
    # 2026-02-01 is a Sunday: 1W moves forward to Monday the 2nd.
    # 2026-05-31 is a Sunday: LW moves back to Friday the 29th.
    assert firings("cron(0 12 1W * ? *)", "2026-01-15T00:00", 1) == ["2026-02-02T12:00"]
    assert firings("cron(0 12 LW * ? *)", "2026-05-01T00:00", 1) == ["2026-05-29T12:00"]


def test_cron_last_and_nth_weekday_of_month() -> None:
    assert firings("cron(0 12 ? * 6L *)", "2026-01-01T00:00", 2) == [
        "2026-01-30T12:00",
        "2026-02-27T12:00",
    ]
    assert firings("cron(0 12 ? * MON#1 *)", "2026-01-01T00:00", 2) == [
        "2026-01-05T12:00",
        "2026-02-02T12:00",
    ]
    assert firings("cron(0 12 ? * L *)", "2026-01-01T00:00", 1) == ["2026-01-03T12:00"]


def test_cron_skips_local_time_missing_at_spring_forward() -> None:
    # Paris jumps from 02:00 to 03:00 on 2026-03-29: 02:30 does not exist that day.
    assert firings("cron(30 2 * * ? *)", "2026-03-28T02:00", 2, "Europe/Paris") == [
        "2026-03-30T00:30",
        "2026-03-31T00:30",
    ]


def test_cron_fires_once_in_repeated_hour_at_fall_back() -> None:
    # Paris repeats 02:00-03:00 on 2026-10-25; the first 02:30 is 00:30 UTC.
    assert firings("cron(30 2 * * ? *)", "2026-10-24T12:00", 2, "Europe/Paris") == [
        "2026-10-25T00:30",
        "2026-10-26T01:30",
    ]


def test_cron_every_minute_from_last_minute_of_year() -> None:
    assert firings("cron(* * * * ? *)", "2026-12-31T23:59", 1) == ["2027-01-01T00:00"]


def test_cron_moment_in_other_zone_is_compared_as_instant() -> None:
    schedule = parse("cron(0 8 * * ? *)", "Europe/Paris")
    moment = utc("2026-01-01T06:59").astimezone(timezone(timedelta(hours=9)))

    assert schedule.next_after(moment) == utc("2026-01-01T07:00")
