"""UTC calendar windows for budgets and token rate limits, and the clock they read.

A window is [start, end): a minute; a day from 00:00 UTC; an ISO week from Monday 00:00 UTC;
a month from the 1st, 00:00 UTC. The clock is settings.BUDGETS["CLOCK"] (a dotted path to a
function returning an aware datetime), so tests can move time instead of waiting for it.
"""

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

PERIODS = ("day", "week", "month")
# Longest first: a refusal names the window that ends last, so its Retry-After is enough.
LONGEST_FIRST = {"month": 0, "week": 1, "day": 2}


def now() -> datetime:
    return _clock(settings.BUDGETS["CLOCK"])()


@lru_cache(maxsize=4)
def _clock(path: str):
    return import_string(path)


def window(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """The [start, end) of the `period` window ("minute", "day", "week", "month") holding
    `moment`."""
    moment = moment.astimezone(UTC)
    if period == "minute":
        start = moment.replace(second=0, microsecond=0)
        return start, start + timedelta(minutes=1)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(weeks=1)
    if period == "month":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    raise ValueError(f"Unknown period {period!r}; choose from minute, {', '.join(PERIODS)}.")


def seconds_until(end: datetime, moment: datetime) -> int:
    """Whole seconds from `moment` to `end`, rounded up, at least 1: a Retry-After value."""
    remaining = (end - moment).total_seconds()
    return max(1, int(-(-remaining // 1)))
