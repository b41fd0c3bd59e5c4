"""Reads over telemetry storage: health, and the reports administrators and users ask for."""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from dgen_ping_site.clock import iso_utc
from telemetry import rollups
from telemetry.backends import stores
from telemetry.backends.base import Position, TelemetryBackend
from telemetry.backends.csv import CSVBackend
from telemetry.errors import StoreUnavailable
from telemetry.query import EventFilter
from telemetry.redact import describe_error
from telemetry.rollups import Rollup
from telemetry.writer import get_writer

logger = logging.getLogger("telemetry")


def storage_health() -> dict:
    """Backend name and live status of telemetry storage, as /health reports it.

    No I/O: the status is what this process's writer last saw. `status` is "connected" (on
    the chain's first store), "backup" or "csv_fallback" (on a later store of the chain),
    "unavailable" (no store takes writes: events wait in the spool), "starting", or
    "misconfigured"; `stores` lists the chain's stores with their state; `spooled`,
    `quarantined` and `corrupt` count this process's events not stored yet, events set
    aside because no store will take them, and spool lines that were not events.
    """
    try:
        status = get_writer().status()
    except ImproperlyConfigured as exc:
        status = {"status": "misconfigured", "last_error": str(exc)}
    return {"backend": settings.TELEMETRY_BACKEND, **status}


# What --source / ?source may also say: the store of record, and the end of the chain.
SOURCE_ALIASES = {"default": 0, "fallback": -1}


def reporting_backend(*, source: str = "default", csv_dir: Path | None = None) -> TelemetryBackend:
    """The store a report reads: a store alias, "default" (the chain's first store, the
    store of record), "fallback" (the chain's last), or the CSV files of a directory."""
    if csv_dir is not None:
        return CSVBackend(csv_dir)
    with reading():
        if source in SOURCE_ALIASES:
            source = stores.chain_aliases()[SOURCE_ALIASES[source]]
        return stores[source]


def read_events(*, backend: TelemetryBackend, filters: EventFilter) -> Iterator[dict]:
    """Matching events, oldest first, streamed."""
    with reading():
        yield from backend.iter_events(filters)


def read_cells(*, backend: TelemetryBackend, filters: EventFilter) -> Iterator[list[str]]:
    """Matching events as CSV cells (FIELDS order), streamed."""
    with reading():
        yield from backend.iter_cells(filters)


def count_events(*, backend: TelemetryBackend, filters: EventFilter) -> int | None:
    """How many events match, when the store can tell without reading them all."""
    with reading():
        return backend.count_events(filters)


def recent_events(
    *, backend: TelemetryBackend, filters: EventFilter, before: Position | None, limit: int
) -> tuple[list[dict], Position | None]:
    """A page of events, newest first, and where the next page starts (None: no more)."""
    with reading():
        events = backend.recent_events(filters, before=before, limit=limit + 1)
    if len(events) <= limit:
        return events, None
    last = events[limit - 1]
    return events[:limit], (last["timestamp"], last["event_id"])


def usage_report(
    *, backend: TelemetryBackend, group_by: Sequence[str], filters: EventFilter
) -> dict:
    """Usage rows per group (see telemetry.usage), with the grouping and filters applied."""
    rows = UsageReader(backend=backend, filters=filters).rows(group_by)
    return {"group_by": list(group_by), "filters": describe_filters(filters), "rows": rows}


class UsageReader:
    """Usage rows of one store and one filter, however grouped: the one way every report
    (telemetry_stats, the usage API, the dashboard) reads usage, so they agree.

    From the store's rollups (telemetry.rollups) when the filter spans whole UTC days and
    the store keeps rollups; else from the events, by the store's aggregate_usage. Rollup
    rows read are kept for the next grouping, so several groupings of one filter cost one
    read per cube.
    """

    def __init__(self, *, backend: TelemetryBackend, filters: EventFilter):
        self.backend = backend
        self.filters = filters
        self.from_rollups = rollups.day_range(filters) is not None and backend.keeps_rollups
        self._read: dict[tuple[str, bool], list[Rollup] | None] = {}

    def rows(self, group_by: Sequence[str], *, percentiles: bool = True) -> list[dict]:
        """Usage rows per group; without `percentiles` their latency columns may be None
        (the rollups' latencies are not read)."""
        found = self._rollups(group_by, percentiles) if self.from_rollups else None
        if found is None:
            with reading():
                return self.backend.aggregate_usage(group_by, self.filters)
        return rollups.usage_rows(found, group_by)

    def _rollups(self, group_by: Sequence[str], percentiles: bool) -> list[Rollup] | None:
        needed = {*group_by, *rollups.filter_values(self.filters)}
        cube = rollups.cube_for(needed)
        for key in ((cube, percentiles), (cube, True)):
            if key in self._read:
                return self._read[key]
        with reading():
            found = self.backend.rollup_rows(cube, self.filters, percentiles=percentiles)
        self._read[(cube, percentiles)] = found
        if found is None:
            self.from_rollups = False  # the store has none: count the events from now on
        return found


def verify_rollups(*, backend: TelemetryBackend, filters: EventFilter) -> tuple[int, list[str]]:
    """Recount the events of whole days and compare with the store's rollups:
    (events counted, differences)."""
    with reading():
        return rollups.verify(backend, filters)


def describe_filters(filters: EventFilter) -> dict:
    """The filters as JSON values (times as the events show them)."""
    return {
        name: iso_utc(value) if isinstance(value, datetime) else value
        for name, value in asdict(filters).items()
    }


@contextmanager
def reading():
    """Store failures become StoreUnavailable (503), logged without credentials."""
    try:
        yield
    except Exception as exc:
        if not _is_store_failure(exc):
            raise
        logger.warning("Telemetry store unreadable: %s", describe_error(exc))
        raise StoreUnavailable() from exc


def _is_store_failure(exc: Exception) -> bool:
    if isinstance(exc, OSError | ImproperlyConfigured):
        return True
    # Imported only after a failure, so a CSV-only process never loads pymongo.
    from pymongo.errors import PyMongoError

    return isinstance(exc, PyMongoError)
