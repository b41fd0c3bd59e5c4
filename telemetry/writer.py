"""The per-process telemetry writer: request threads hand events off, one thread ships them.

`emit(event)` is all a request pays: one JSON line appended to this process's spool
(telemetry.spool.Spool), whatever the event holds (telemetry.sanitize). A daemon thread,
started on first use in each process (so after gunicorn forks), ships the spool in batches
into the failover chain of stores (telemetry.backends.chain, which alone decides where a
batch goes: primary, backups, CSV), sets aside what no store will take
(telemetry.quarantine), and ships the segments of processes that died
(telemetry.recovery). The chain's doubts (events that may be in two stores) are kept in a
ledger in the spool (telemetry.doubts), so that they outlive the process.

Under gunicorn the writers are hand-off writers (`hand_off_to_shipper_process`, called in
the master before it forks): they only append, and the shipper process beside the workers
(telemetry.shipper_process) ships their segments and reports what /health shows. Their
thread ships only the events held in memory while the spool cannot be written, which the
shipper process cannot see.
"""

import atexit
import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings

from telemetry.backends import stores
from telemetry.backends.chain import ChainStore
from telemetry.metrics.recording import WriterMetrics
from telemetry.recovery import recover_orphans
from telemetry.redact import describe_error
from telemetry.sanitize import spool_line
from telemetry.shipper import Shipper, shipping_settings
from telemetry.shipper_process import read_status, stale_after
from telemetry.spool import Spool, parse_lines

logger = logging.getLogger("telemetry")


class TelemetryWriter:
    """Spools events on the request thread and ships them from its own thread."""

    def __init__(
        self,
        *,
        store: ChainStore,
        spool_dir: Path,
        quarantine_dir: Path | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        recovery_interval: float = 10.0,
        segment_bytes: int = 16 * 1024 * 1024,
        max_overflow: int = 10_000,
        handoff: bool = False,
    ):
        self.pid = os.getpid()
        self.store = store
        self.handoff = handoff
        self.spool = Spool(spool_dir, segment_bytes, max_overflow, handoff=handoff)
        self.shipper, self.doubts = Shipper.for_spool(store, spool_dir, quarantine_dir, batch_size)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.recovery_interval = recovery_interval
        self._ship_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._overflow_unsure = False
        self._next_recovery = 0.0
        self.stale_after = stale_after(flush_interval)
        self.shipped = self.recovered = 0
        self.metrics = WriterMetrics()

    @classmethod
    def from_settings(cls, handoff: bool = False) -> "TelemetryWriter":
        segment_bytes = settings.TELEMETRY["SPOOL_SEGMENT_BYTES"]
        return cls(**shipping_settings(), segment_bytes=segment_bytes, handoff=handoff)

    # --- the request thread's side --------------------------------------------------------

    def emit(self, event: dict) -> None:
        """Hand an event off: spooled to disk before this returns (or held in memory)."""
        self.spool.append(spool_line(event))
        if self.handoff:
            if self.spool.overflow:
                self._wake.set()  # the shipper process cannot see these
            else:
                self.spool.hand_over_if_large()
        elif self.pending() >= self.batch_size:
            self._wake.set()

    # --- the writer thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="telemetry-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._ship_lock:
                    self._round()
            except Exception as exc:  # the thread must outlive any surprise
                logger.exception("Telemetry writer error")
                self.shipper.last_error = describe_error(exc)
            self._wake.wait(self.flush_interval)
            self._wake.clear()

    def _round(self) -> None:
        if self.handoff and not (self.pending() or self._overflow_unsure or len(self.doubts)):
            return  # the shipper process ships the spool; nothing is held here
        self._ship_own()
        if self.store.status != "connected":
            self.store.probe(idle=self.pending() == 0)
        if not self.handoff and time.monotonic() >= self._next_recovery:
            self._next_recovery = time.monotonic() + self.recovery_interval
            self._recover()
        self.store.settle_doubts()  # idle, a store may have come back unasked
        self._publish_metrics()

    def _ship_own(self) -> bool:
        """Ship the overflow and our spooled events (a hand-off writer: the overflow only);
        False if the store did not take them."""
        if not self._ship_overflow():
            return False
        if self.handoff:
            return True
        for segment in self.spool.segments():
            shipped = self.shipper.ship_segment(segment)
            self.shipped += shipped.lines
            if not shipped.done:
                return False
            if segment is not self.spool.current:
                self.spool.drained(segment)
        self.spool.rotate_if_large()
        return True

    def _ship_overflow(self) -> bool:
        overflow = self.spool.overflow
        while overflow:
            lines = [overflow[i] for i in range(min(self.batch_size, len(overflow)))]
            batch = parse_lines(lines)
            events = batch.events
            if self._overflow_unsure:
                events, _ = self.shipper.without_stored(events)
            self._overflow_unsure = self.shipper.ship(events, batch.corrupt) is None
            if self._overflow_unsure:
                return False
            for _ in lines:
                overflow.popleft()  # appends go to the other end
            self.shipped += len(lines)
        return True

    def _recover(self) -> None:
        if self.handoff:
            return  # the shipper process recovers dead processes' spools
        own = {segment.path for segment in self.spool.segments()}
        self.recovered += recover_orphans(self.spool.directory, own, self.shipper, self.doubts)

    def _publish_metrics(self) -> None:
        """What /health shows, as Prometheus metrics (telemetry.metrics); once a round."""
        totals = self.shipper.totals(recovered=self.recovered, dropped=self.spool.dropped)
        status, stores = self.store.status, self.store.describe()
        try:
            if self.handoff:  # the shipper process publishes the rest
                self.metrics.publish_totals(totals)
            else:
                self.metrics.publish(
                    totals=totals, backlog=self.pending(), status=status, stores=stores
                )
        except Exception:  # metrics must never stop telemetry from being stored
            logger.exception("Could not publish the telemetry writer's metrics")

    # --- control --------------------------------------------------------------------------

    def pending(self) -> int:
        """Events handed to this writer and not shipped yet (a hand-off writer: those it
        holds in memory; the shipper process counts the spooled ones)."""
        if self.handoff:
            return len(self.spool.overflow)
        return self.spool.appended - self.shipped

    def flush(self, timeout: float = 10.0, *, last: bool = False) -> bool:
        """Store what is spooled now, ours and dead processes'; True if nothing is left.

        `last` (at exit) also settles the open doubts, asking every store whatever its
        cool-down: a store may be back that this process has not asked since.
        """
        if not self._ship_lock.acquire(timeout=timeout):
            return False
        try:
            self._ship_own()
            self._recover()
            if last:
                self.store.settle_doubts(ignore_cool_downs=True)
            self._publish_metrics()
        finally:
            self._ship_lock.release()
        return self.pending() == 0

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop the thread, store everything, release the spool (and the doubts left, for
        the next process); True if nothing is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        done = self.flush(timeout, last=True)
        self.spool.close()
        self.doubts.close()
        return done

    def forget(self) -> None:
        """In a forked child: let go of the parent's files without touching them."""
        self.spool.forget()
        self.doubts.forget()

    def status(self) -> dict:
        """What /health shows: this writer's own figures (no I/O), or, for a hand-off writer,
        the shipper process's (its status file), with what this process holds or dropped."""
        own = self._own_status()
        if not self.handoff:
            return own
        shipping = read_status(self.spool.directory, stale_after=self.stale_after)
        merged = {**shipping, "spooled": shipping["spooled"] + own["spooled"]}
        merged["dropped"] = shipping["dropped"] + own["dropped"]
        merged["doubts"] = shipping["doubts"] + own["doubts"]
        if own["spooled"] or self._overflow_unsure:  # held here: this process's store says
            merged.update(status=own["status"], last_error=own["last_error"])
        return merged

    def _own_status(self) -> dict:
        return self.shipper.status(
            spooled=self.pending(),
            stored=self.shipped,
            recovered=self.recovered,
            dropped=self.spool.dropped,
            doubts=len(self.doubts),
        )


# --- the process's writer -------------------------------------------------------------------

_writer: TelemetryWriter | None = None
_writer_lock = threading.Lock()
_handoff = False


def hand_off_to_shipper_process() -> None:
    """(gunicorn's master, before it forks) The writers of this process and its children
    only append; the shipper process ships their spools (telemetry.shipper_process)."""
    global _handoff
    _handoff = True


def get_writer() -> TelemetryWriter:
    """This process's writer, created and started on first use (so after any fork)."""
    writer = _writer
    if writer is not None and writer.pid == os.getpid():
        return writer
    return _start_writer()


def _start_writer() -> TelemetryWriter:
    global _writer
    with _writer_lock:
        if _writer is None or _writer.pid != os.getpid():
            _writer = TelemetryWriter.from_settings(handoff=_handoff)
            _writer.start()
        return _writer


def emit(event: dict) -> None:
    """Hand one complete event (telemetry.schema.build_event) to this process's writer."""
    get_writer().emit(event)


def shutdown(timeout: float = 10.0) -> bool:
    """Flush and stop this process's writer (gunicorn worker_exit, atexit, settings change)."""
    global _writer
    with _writer_lock:
        writer = _writer if _writer is not None and _writer.pid == os.getpid() else None
        _writer = None
    return writer.shutdown(timeout) if writer else True


def reset() -> None:
    """After the telemetry settings changed (tests): flush, then rebuild on next use."""
    shutdown()
    stores.reset()


def _after_fork_in_child() -> None:
    global _writer, _writer_lock
    _writer_lock = threading.Lock()  # the parent's may have been held at the fork
    inherited, _writer = _writer, None
    if inherited is not None:
        inherited.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)
