"""What a reader asks of telemetry storage: which events (EventFilter), grouped how."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Group names a usage report accepts -> the event field each one reads.
GROUP_FIELDS = {
    "soeid": "soeid",
    "project": "project_name",
    "model": "model",
    "event_type": "event_type",
    "day": "timestamp",  # the first 10 characters: YYYY-MM-DD (UTC)
    "token": "token_jti",
    "status": "status_code",
}


@dataclass(frozen=True)
class EventFilter:
    """Events with since <= timestamp < until and the given field values (None = any)."""

    since: datetime | None = None
    until: datetime | None = None
    soeid: str | None = None
    project: str | None = None
    model: str | None = None
    event_type: str | None = None

    def field_values(self) -> dict[str, str]:
        """Exact-match conditions, keyed by event field name."""
        pairs = {
            "soeid": self.soeid,
            "project_name": self.project,
            "model": self.model,
            "event_type": self.event_type,
        }
        return {name: value for name, value in pairs.items() if value is not None}

    def matches(self, event: dict) -> bool:
        for name, value in self.field_values().items():
            if event.get(name) != value:
                return False
        if self.since is None and self.until is None:
            return True
        moment = parse_timestamp(event["timestamp"])
        return (self.since is None or moment >= self.since) and (
            self.until is None or moment < self.until
        )


def parse_timestamp(text: str) -> datetime:
    """An event timestamp ('2025-01-01T12:00:00.000Z') as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


# An age: so many units before now. At most 5 digits, so that the oldest (99999 weeks, about
# 1,900 years) is still a date.
AGE_PATTERN = r"^[0-9]{1,5}[smhdw]$"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A point in time as people type it, as an aware UTC datetime, to the millisecond.

    '7d', '12h', '30m', '45s', '2w' mean that long before `now`; an ISO date means its
    midnight UTC; an ISO datetime without an offset is UTC. ValueError says what is accepted.
    Milliseconds, because event timestamps have that precision: a filter must select the
    same events on every store.
    """
    text = text.strip()
    try:
        moment = _moment(text, now)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{text!r} is not a time: use an ISO date or datetime (2025-01-31, "
            "2025-01-31T12:00:00Z) or an age such as 7d, 12h, 30m."
        ) from None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _moment(text: str, now: datetime | None) -> datetime:
    if re.fullmatch(AGE_PATTERN, text):
        amount, unit = int(text[:-1]), _UNITS[text[-1]]
        return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # a time in year 1 or 9999 whose offset crosses the calendar's end
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def parse_group_by(text: str) -> tuple[str, ...]:
    """'project,model' as group names, validated (an empty text: no grouping)."""
    return check_group_by([name.strip() for name in text.split(",") if name.strip()])


def check_group_by(group_by: Sequence[str]) -> tuple[str, ...]:
    """The group names, validated; ValueError names the allowed ones."""
    unknown = [name for name in group_by if name not in GROUP_FIELDS]
    if unknown:
        raise ValueError(f"Cannot group by {unknown}; choose from {sorted(GROUP_FIELDS)}.")
    return tuple(group_by)
