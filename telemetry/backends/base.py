"""The interface every telemetry store implements, and the errors a write can end with."""

import heapq
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from telemetry.query import EventFilter, parse_timestamp
from telemetry.rollups import Rollup
from telemetry.schema import FIELDS, csv_cell

# Where a page of newest-first events ends: (timestamp, event_id) of its last event.
Position = tuple[str, str]


class PartialWrite(Exception):
    """write_batch stored part of the batch, then failed; `stored_ids` are the stored events.

    The store is in trouble (not the events): the others may be retried, here or elsewhere,
    and only the others, so none is stored twice.
    """

    def __init__(self, message: str, stored_ids: set[str]):
        super().__init__(message)
        self.stored_ids = stored_ids


class EventsRefused(PartialWrite):
    """The store works, and stored every event but these, which it refuses for what they hold.

    `refused` maps an event id to the store's reason. Retrying them cannot help: the writer,
    the recovery and the replay set them aside in the quarantine (telemetry.quarantine).
    """

    def __init__(self, refused: dict[str, str], stored_ids: set[str], store: str = ""):
        first = next(iter(refused.values()), "")
        super().__init__(f"{len(refused)} event(s) refused: {first}", stored_ids)
        self.refused = refused
        self.store = store  # which store refused them (the chain names it)


class UncertainWrite(Exception):
    """The store lost touch with the write after sending it: it may hold any of `ids`.

    (A server killed between storing a batch and acknowledging it.) The chain records the
    doubt (telemetry.doubts), writes the events elsewhere, and once every store answers
    again, leaves each of them in one store (telemetry.backends.chain).
    """

    def __init__(self, message: str, ids: set[str]):
        super().__init__(message)
        self.ids = ids


def earliest(events: Iterable[dict]) -> datetime | None:
    """The earliest event's time (None if one has none): the `since` to ask existing_ids
    with about these events, as no copy of one can have been stored before it."""
    try:
        return min(parse_timestamp(event["timestamp"]) for event in events)
    except (KeyError, TypeError, ValueError):
        return None


class TelemetryBackend:
    """A place events are stored. Instances are shared by the threads of one process.

    Events are complete dicts as telemetry.schema.build_event returns them.
    """

    # What /health's database.status says while this store takes the writes in place of the
    # first store of the chain (telemetry.backends.chain).
    fallback_status = "fallback"
    # Whether discard() can delete single events (a file of rows cannot).
    can_discard = False
    # Whether the store keeps rollups (telemetry.rollups) as it stores events.
    keeps_rollups = False
    # Days after which the store deletes events by itself (MongoDB's TTL index); None when
    # it keeps them until they are pruned (prune_telemetry).
    retention_days: float | None = None

    def write_batch(self, events: Sequence[dict]) -> None:
        """Store all events or raise: EventsRefused for events it will never take,
        PartialWrite when it knows some were stored, anything else when it cannot write now.
        A batch that raised may be retried whole."""
        raise NotImplementedError

    def iter_events(self, filters: EventFilter | None = None) -> Iterator[dict]:
        """Yield matching events, roughly oldest first, in constant memory."""
        raise NotImplementedError

    def iter_cells(self, filters: EventFilter | None = None) -> Iterator[list[str] | str]:
        """iter_events' events as CSV cells in FIELDS order (stores keeping CSV do it faster).

        A store keeping CSV may give a row as its stored line instead (a str): the cells
        joined by commas, none quoted, ending in CRLF, exactly as csv.writer writes them.
        """
        for event in self.iter_events(filters):
            yield [csv_cell(event.get(name)) for name in FIELDS]

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

    def rollup_rows(
        self, cube: str, filters: EventFilter, *, percentiles: bool = True
    ) -> list[Rollup] | None:
        """The cube's rollup rows matching `filters` (whole UTC days: telemetry.rollups), or
        None when the store has none it can vouch for (then readers count the events).
        Without `percentiles`, rows come without latencies (cheaper to read)."""
        return None

    def rebuild_rollups(self) -> None:
        """Count every stored event again into fresh rollups (keeps_rollups stores only)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no rollups.")

    def existing_ids(self, ids: Collection[str], since: datetime | None = None) -> set[str]:
        """Which of these event ids are stored; `since` lets a store skip older data."""
        raise NotImplementedError

    def health(self) -> dict:
        """Check the store now: {"ok": bool, "error": str | None} (may do I/O)."""
        raise NotImplementedError

    def prune(self, before: datetime, *, dry_run: bool = False) -> list[Path]:
        """Delete files holding only events older than `before`; the paths (to be) deleted.

        Stores that expire data themselves (a TTL index) have nothing to do.
        """
        return []

    def discard(self, ids: Collection[str]) -> None:
        """Delete these events where stored (copies the chain found in another store too);
        only asked of stores that `can_discard`."""
        raise NotImplementedError

    def owns(self, path: Path) -> bool:
        """Whether this file is part of the store (a replay must not import it into it)."""
        return False

    def close(self) -> None:
        """Release connections and files; the instance may be used again afterwards."""
