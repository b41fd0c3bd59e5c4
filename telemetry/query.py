"""What a reader asks of telemetry storage: which events (EventFilter), grouped how."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

# Group names a usage report accepts -> the event field each one reads.
GROUP_FIELDS = {
    "soeid": "soeid",
    "project": "project_name",
    "model": "model",
    "event_type": "event_type",
    "day": "timestamp",  # the first 10 characters: YYYY-MM-DD (UTC)
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


def check_group_by(group_by: Sequence[str]) -> tuple[str, ...]:
    """The group names, validated; ValueError names the allowed ones."""
    unknown = [name for name in group_by if name not in GROUP_FIELDS]
    if unknown:
        raise ValueError(f"Cannot group by {unknown}; choose from {sorted(GROUP_FIELDS)}.")
    return tuple(group_by)
