"""The failover chain: the configured stores, tried in order, as one store.

settings.TELEMETRY["CHAIN"] names the stores in the order they are tried (by default:
MongoDB primary, its backups, the CSV fallback). This is the one place that decides where a
batch goes; the stores themselves know nothing of each other.

Each store of the chain is in one of three states:

    untried  not written to yet                       tried in its turn
    up       its last write (or probe) succeeded      tried in its turn
    down     its last write failed                    skipped until its cool-down ends

A batch goes to the first store, in chain order, that is not cooling down. A store that
fails is down for RETRY_INTERVAL seconds and the batch moves on to the next store; when
the cool-down ends, the next batch tries it again: once per interval, however many batches
are written meanwhile, so a dead primary costs one server-selection timeout per interval,
not one per write. The last store of the chain is tried whenever nothing before it took the
batch (with nowhere else to go, waiting would only delay the events). The chain is on its
first store ("connected"), on another (that store's `fallback_status`: "backup",
"csv_fallback") or on none ("unavailable": the events wait in the spool).

A store may hold events the chain then stores elsewhere: one that lost touch mid-write
(UncertainWrite), or one that could not be asked whether it holds a batch about to be
written again (existing_ids). The chain records each such doubt before the events go
anywhere else (telemetry.doubts: on disk, for whoever outlives this process), and settles it
once every store can be asked: each event is left in one store.
"""

import logging
import math
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from telemetry.backends.base import (
    EventsRefused,
    PartialWrite,
    Position,
    TelemetryBackend,
    UncertainWrite,
    earliest,
)
from telemetry.doubts import Doubt, Doubts
from telemetry.query import EventFilter
from telemetry.redact import describe_error

logger = logging.getLogger("telemetry")


class StoresUnavailable(PartialWrite):
    """No store of the chain took the batch (`stored_ids`: the part some store did take)."""


@dataclass
class Link:
    """One store of the chain and what the chain knows of it."""

    alias: str
    store: TelemetryBackend
    state: str = "untried"
    retry_at: float = 0.0
    last_error: str | None = None

    def due(self, now: float) -> bool:
        return self.state != "down" or now >= self.retry_at


class ChainStore(TelemetryBackend):
    """Writes go down the chain; reads go to its first store, the store of record."""

    def __init__(
        self,
        links: Sequence[tuple[str, TelemetryBackend]],
        retry_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.links = [Link(alias, store) for alias, store in links]
        self.retry_interval = retry_interval
        self.clock = clock
        self.active: Link | None = None  # the store that took the last write
        self.status = "starting"
        self.doubts = Doubts()

    def keep_doubts_in(self, doubts: Doubts) -> None:
        """Record doubts there from now on (the writer's ledger), with those open so far."""
        for doubt in self.doubts:
            doubts.add(doubt)
        self.doubts = doubts

    # --- writing --------------------------------------------------------------------------

    def write_batch(self, events: Sequence[dict]) -> None:
        """Store the batch in the first store that takes it; raises EventsRefused (naming the
        store) for events that store refuses, StoresUnavailable if none took it."""
        remaining, stored = list(events), set()
        for link in self._candidates():
            try:
                link.store.write_batch(remaining)
            except EventsRefused as exc:
                self._took(link)
                raise EventsRefused(exc.refused, stored | exc.stored_ids, link.alias) from exc
            except Exception as exc:
                self._failed(link, exc)
                if isinstance(exc, UncertainWrite):  # recorded before they go anywhere else
                    self._doubt(link, exc.ids, earliest(events))
                if isinstance(exc, PartialWrite):
                    stored |= exc.stored_ids
                    remaining = [e for e in remaining if e["event_id"] not in exc.stored_ids]
                continue
            self._took(link)
            return
        self._set_status("unavailable")
        last = next((link.last_error for link in reversed(self.links) if link.last_error), "")
        raise StoresUnavailable(f"No telemetry store took the batch: {last}", stored)

    def _candidates(self) -> Iterator[Link]:
        now = self.clock()
        last = self.links[-1]
        for link in self.links:
            if link.due(now) or link is last:
                yield link

    def _took(self, link: Link) -> None:
        link.state, link.last_error = "up", None
        self.active = link
        self._set_status(self._status_of(link))
        self.settle_doubts()

    # --- doubts: events that may be in two stores -----------------------------------------

    def _doubt(self, link: Link, ids: Collection[str], since: datetime | None) -> None:
        # A batch retried while its stores are down is asked about again and again: each
        # event needs one open doubt per store, not one per try.
        new = frozenset(ids) - self.doubts.ids_about(link.alias)
        if new:
            self.doubts.add(Doubt(link.alias, new, since))

    def settle_doubts(self, *, ignore_cool_downs: bool = False) -> None:
        """Settle the open doubts if every store can be asked now (none is cooling down):
        each event a doubt names is left in one store. `ignore_cool_downs` asks the stores
        anyway: a process's last chance, at exit (what is left stays in its ledger)."""
        now = math.inf if ignore_cool_downs else self.clock()
        for doubt in self.doubts:
            held = self._holders(doubt, now)
            if held is None:
                return  # a store cannot be asked: another time
            try:
                self._keep_one_copy(held)
            except Exception as exc:
                logger.warning("Telemetry: cannot settle a doubtful write yet: %s", exc)
                return
            self.doubts.settled(doubt)

    def _holders(self, doubt: Doubt, now: float) -> list[tuple[Link, set[str]]] | None:
        """Which of the doubt's events each store holds; None if one cannot be asked now."""
        held = []
        for link in self.links:
            if not link.due(now):
                return None
            try:
                held.append((link, link.store.existing_ids(doubt.ids, since=doubt.since)))
            except Exception as exc:
                self._failed(link, exc)
                return None
        return held

    def _keep_one_copy(self, held: list[tuple[Link, set[str]]]) -> None:
        """Delete the extra copies. An event stays in the first store, in chain order, that
        holds it, unless a store that cannot delete (CSV) holds it too: then it stays there,
        and replay_telemetry brings it back to MongoDB, once."""
        keeper: dict[str, Link] = {}
        for link, ids in held:
            for event_id in ids:
                kept_by = keeper.get(event_id)
                if kept_by is None or (kept_by.store.can_discard and not link.store.can_discard):
                    keeper[event_id] = link
        for link, ids in held:
            extra = {event_id for event_id in ids if keeper[event_id] is not link}
            if extra and link.store.can_discard:
                link.store.discard(extra)
                logger.warning(
                    "Telemetry: %d events were stored twice (a write whose answer was lost, "
                    "or a store that could not be asked): removed from %s",
                    len(extra),
                    link.alias,
                )

    def _failed(self, link: Link, exc: Exception) -> None:
        link.state, link.retry_at = "down", self.clock() + self.retry_interval
        link.last_error = describe_error(exc)
        logger.warning("Telemetry store failed: %s: %s", link.alias, link.last_error)

    def _status_of(self, link: Link) -> str:
        return "connected" if link is self.links[0] else link.store.fallback_status

    def _set_status(self, status: str) -> None:
        if status != self.status:
            log = logger.info if status == "connected" else logger.warning
            log("Telemetry storage: %s -> %s", self.status, status)
            self.status = status

    # --- looking without writing ----------------------------------------------------------

    def probe(self, *, idle: bool) -> None:
        """Check the stores ahead of the active one whose cool-down is over (health()).

        A healthy one is tried by the next batch. With no events waiting (`idle`), it also
        becomes the active store at once, so /health recovers without traffic; with events
        waiting, only a successful write says a store takes them (a store can answer and
        still be unable to write, e.g. on a full disk).
        """
        now = self.clock()
        for link in self.links:
            if link is self.active and self.status != "unavailable":
                return
            if link.state == "up" or not link.due(now):
                continue
            health = link.store.health()
            if not health["ok"]:
                self._failed(link, health["error"])
                continue
            link.retry_at = 0.0
            if idle:
                self._took(link)
            return
        if self.active is None:
            self._set_status("unavailable")

    def last_error(self) -> str | None:
        return next((link.last_error for link in self.links if link.last_error), None)

    def describe(self) -> list[dict]:
        """Each store of the chain with its state, as /health shows it (no I/O)."""
        now = self.clock()
        return [
            {
                "alias": link.alias,
                "state": link.state,
                "active": link is self.active and self.status != "unavailable",
                "retry_in": round(max(0.0, link.retry_at - now), 1)
                if link.state == "down"
                else None,
                "last_error": link.last_error,
            }
            for link in self.links
        ]

    def health(self) -> dict:
        """The first store's health: the chain is healthy when writes go where they should."""
        return self.links[0].store.health()

    # --- reading: the first store ---------------------------------------------------------

    @property
    def first(self) -> TelemetryBackend:
        return self.links[0].store

    def iter_events(self, filters: EventFilter | None = None) -> Iterator[dict]:
        return self.first.iter_events(filters)

    def iter_cells(self, filters: EventFilter | None = None) -> Iterator[list[str]]:
        return self.first.iter_cells(filters)

    def recent_events(
        self, filters: EventFilter | None = None, before: Position | None = None, limit: int = 100
    ) -> list[dict]:
        return self.first.recent_events(filters, before, limit)

    def count_events(self, filters: EventFilter | None = None) -> int | None:
        return self.first.count_events(filters)

    def aggregate_usage(
        self, group_by: Sequence[str] = (), filters: EventFilter | None = None
    ) -> list[dict]:
        return self.first.aggregate_usage(group_by, filters)

    def rollup_rows(self, cube: str, filters: EventFilter, *, percentiles: bool = True):
        return self.first.rollup_rows(cube, filters, percentiles=percentiles)

    def existing_ids(self, ids: Collection[str], since: datetime | None = None) -> set[str]:
        """The ids the stores that answer hold. A store that is down is not asked (that
        would only wait for its timeout), but it may hold some of them too: that is a doubt,
        recorded here, so the events the caller now stores elsewhere end up in one store."""
        found: set[str] = set()
        now = self.clock()
        for link in self.links:
            try:
                if link.due(now):
                    found |= link.store.existing_ids(ids, since=since)
                    continue
            except Exception as exc:
                self._failed(link, exc)
            self._doubt(link, ids, since)
        return found

    def close(self) -> None:
        for link in self.links:
            link.store.close()
