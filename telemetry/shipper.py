"""Shipping spooled events into a store, batch by batch, so that nothing can wedge it.

A batch read from a spool segment is written to the store (the failover chain), then its
checkpoint is saved. What can never be stored (events the store refuses for what they hold,
spool lines that are not events) goes to the quarantine, and the batch counts as done: one
event never holds up the others. What the store cannot take now stays in the spool and is
tried again.

After a failure that may have stored part of a batch (a partial write, or a quarantine file
that could not be written after the store took the rest), the retry first asks the stores
which of its events they already hold and skips those, as the recovery of a dead process's
segment does: a partly stored batch is never stored twice.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from dgen_ping_site.clock import iso_utc
from telemetry.backends.base import EventsRefused, PartialWrite, TelemetryBackend, earliest
from telemetry.doubts import DoubtLedger
from telemetry.quarantine import Quarantine
from telemetry.redact import describe_error
from telemetry.spool import Segment

logger = logging.getLogger("telemetry")


@dataclass
class Shipped:
    """What shipping a segment did: lines done with, events stored, and whether it is all."""

    lines: int = 0
    stored: int = 0
    done: bool = False


def shipping_settings() -> dict:
    """What a writer thread or the shipper process is built from (settings.TELEMETRY)."""
    from telemetry.backends import stores

    conf = settings.TELEMETRY
    return {
        "store": stores.chain(),
        "spool_dir": conf["SPOOL_DIR"],
        "quarantine_dir": conf["QUARANTINE_DIR"],
        "batch_size": conf["BATCH_SIZE"],
        "flush_interval": conf["FLUSH_INTERVAL"],
        "recovery_interval": conf["RECOVERY_INTERVAL"],
    }


class Shipper:
    @classmethod
    def for_spool(
        cls, store, spool_dir: Path, quarantine_dir: Path | None, batch_size: int
    ) -> tuple["Shipper", DoubtLedger]:
        """A shipper for a spool directory, and the ledger its chain keeps doubts in."""
        doubts = DoubtLedger(spool_dir)
        store.keep_doubts_in(doubts)
        quarantine = Quarantine(quarantine_dir or Path(spool_dir) / "quarantine")
        return cls(store=store, quarantine=quarantine, batch_size=batch_size), doubts

    def __init__(self, *, store: TelemetryBackend, quarantine: Quarantine, batch_size: int):
        self.store = store
        self.quarantine = quarantine
        self.batch_size = batch_size
        self.stored = 0  # events stored, all segments and batches together
        self.corrupt = 0  # spool lines that were not events
        self.last_error: str | None = None
        self.last_write: str | None = None

    def totals(self, *, recovered: int, dropped: int) -> dict:
        """The counts the metrics publish (telemetry.metrics.recording.WriterMetrics)."""
        return {
            "stored": self.stored,
            "recovered": recovered,
            "quarantined": self.quarantine.count - self.corrupt,
            "corrupt": self.corrupt,
            "dropped": dropped,
        }

    def status(self, **figures) -> dict:
        """What /health shows: the chain's state and this shipper's, with `figures` (spooled,
        stored, recovered, dropped, doubts)."""
        return {
            "status": self.store.status,
            **figures,
            "quarantined": self.quarantine.count,
            "corrupt": self.corrupt,
            "last_error": self.last_error or self.store.last_error(),
            "last_write": self.last_write,
            "stores": self.store.describe(),
        }

    def ship_segment(self, segment: Segment, dedupe: bool = False) -> Shipped:
        """Ship a segment's lines from its checkpoint on, batch by batch.

        With dedupe (a dead process's segment), events a store already holds are skipped
        for as long as batches keep containing some: the owner may have stored one batch
        and died before saving its checkpoint, so only a run of batches right after it can
        be stored.
        """
        shipped = Shipped()
        while (batch := segment.read(self.batch_size)) is not None:
            events = batch.events
            if dedupe or segment.unsure:
                events, dedupe = self.without_stored(events)
            stored = self.ship(events, batch.corrupt)
            segment.unsure = stored is None
            if segment.unsure:
                return shipped
            segment.commit(batch)
            shipped.lines += len(batch.events) + len(batch.corrupt)
            shipped.stored += stored
        shipped.done = True
        return shipped

    def ship(self, events: Sequence[dict], corrupt: Sequence[tuple[bytes, str]] = ()) -> int | None:
        """Store the events, quarantine what can never be stored: how many were stored.

        None: nothing to set aside was lost, but the store did not take (all of) the
        events, or the quarantine could not be written; try again later.
        """
        try:
            stored = self._write(events) if events else 0
            if corrupt:
                self._corrupt(corrupt)
        except (OSError, PartialWrite) as exc:  # OSError: the quarantine file
            self.last_error = describe_error(exc)
            return None
        self.last_write = iso_utc()
        self.stored += stored
        return stored

    def _write(self, events: Sequence[dict]) -> int:
        try:
            self.store.write_batch(events)
        except EventsRefused as exc:
            if set(exc.refused) | exc.stored_ids != {event["event_id"] for event in events}:
                raise  # some were neither stored nor refused: the store is in trouble
            self.quarantine.events(events, exc.refused, store=exc.store)
            return len(events) - len(exc.refused)
        except PartialWrite:
            raise
        except Exception as exc:
            raise PartialWrite(describe_error(exc), set()) from exc
        return len(events)

    def _corrupt(self, lines: Sequence[tuple[bytes, str]]) -> None:
        self.quarantine.lines(lines)
        self.corrupt += len(lines)
        logger.error("Telemetry spool: %d corrupt line(s) set aside", len(lines))

    def without_stored(self, events: list[dict]) -> tuple[list[dict], bool]:
        """The events no store holds yet, and whether some were held."""
        if not events:
            return events, True
        ids = [event["event_id"] for event in events]
        stored = self.store.existing_ids(ids, since=earliest(events))
        return [e for e in events if e["event_id"] not in stored], bool(stored)
