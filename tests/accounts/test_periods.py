"""Budget windows on the UTC calendar, whatever time zone a moment comes in."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from accounts.periods import seconds_until, window

# Sunday 2 March 2025, 23:30 in New York is already Monday 3 March, 04:30 UTC.
NEW_YORK_SUNDAY_NIGHT = datetime(2025, 3, 2, 23, 30, tzinfo=timezone(timedelta(hours=-5)))


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("minute", utc(2025, 3, 3, 4, 30), utc(2025, 3, 3, 4, 31)),
        ("day", utc(2025, 3, 3), utc(2025, 3, 4)),
        ("week", utc(2025, 3, 3), utc(2025, 3, 10)),  # ISO weeks start on Monday
        ("month", utc(2025, 3, 1), utc(2025, 4, 1)),
    ],
)
def test_windows_follow_the_utc_calendar(period, start, end):
    assert window(period, NEW_YORK_SUNDAY_NIGHT) == (start, end)


@pytest.mark.parametrize(
    ("moment", "end"),
    [
        (utc(2024, 2, 10), utc(2024, 3, 1)),  # a leap February
        (utc(2025, 12, 31, 23, 59), utc(2026, 1, 1)),  # across the year
        (utc(2025, 1, 31), utc(2025, 2, 1)),
    ],
)
def test_months_end_on_the_first_of_the_next(moment, end):
    assert window("month", moment)[1] == end


def test_a_window_starts_at_its_first_instant():
    assert window("day", utc(2025, 3, 3))[0] == utc(2025, 3, 3)


def test_retry_after_is_whole_seconds_rounded_up_and_never_zero():
    end = utc(2025, 3, 4)
    assert seconds_until(end, end - timedelta(seconds=29.2)) == 30
    assert seconds_until(end, end) == 1


def test_an_unknown_period_is_refused():
    with pytest.raises(ValueError, match="Unknown period 'year'"):
        window("year", utc(2025, 1, 1))
