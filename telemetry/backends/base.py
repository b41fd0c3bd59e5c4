"""The interface every telemetry store implements."""

import heapq
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime

from telemetry.query import EventFilter

# Where a page of newest-first events ends: (timestamp, event_id) of its last event.
Position = tuple[str, str]


class PartialWrite(Exception):
    """write_batch stored part of the batch, then failed; `stored_ids` are the stored events.

    The writer sends only the others to the fallback store, so none is stored in both.
    """

    def __init__(self, message: str, stored_ids: set[str]):
        super().__init__(message)
        self.stored_ids = stored_ids


class TelemetryBackend:
    """A place events are stored. Instances are shared by the threads of one process.

    Events are complete dicts as telemetry.schema.build_event returns them.
    """

    def write_batch(self, events: Sequence[dict]) -> None:
        """Store all events or raise (PartialWrite when it knows some were stored); a batch
        that raised may be retried whole."""
        raise NotImplementedError

    def iter_events(self, filters: EventFilter | None = None) -> Iterator[dict]:
        """Yield matching events, roughly oldest first, in constant memory."""
        raise NotImplementedError

    def recent_events(
        self, filters: EventFilter | None = None, before: Position | None = None, limit: int = 100
    ) -> list[dict]:
        """Up to `limit` matching events older than `before`, newest first (ties: by event id).

        This default scans every matching event; stores with an index should do better.
        """
        events = self.iter_events(filters)
        if before is not None:
            events = (e for e in events if (e["timestamp"], e["event_id"]) < before)
        return heapq.nlargest(limit, events, key=lambda e: (e["timestamp"], e["event_id"]))

    def count_events(self, filters: EventFilter | None = None) -> int | None:
        """How many events match, or None when only reading them all could tell."""
        return None

    def aggregate_usage(
        self, group_by: Sequence[str] = (), filters: EventFilter | None = None
    ) -> list[dict]:
        """Usage rows per group, as defined in telemetry.usage, ordered by group values."""
        raise NotImplementedError

    def existing_ids(self, ids: Collection[str], since: datetime | None = None) -> set[str]:
        """Which of these event ids are stored; `since` lets a store skip older data."""
        raise NotImplementedError

    def health(self) -> dict:
        """Check the store now: {"ok": bool, "error": str | None} (may do I/O)."""
        raise NotImplementedError

    def mode(self) -> str:
        """Where writes go, without I/O: "connected", or "backup" when on a backup location."""
        return "connected"

    def close(self) -> None:
        """Release connections and files; the instance may be used again afterwards."""
