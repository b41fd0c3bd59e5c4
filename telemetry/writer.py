"""The per-process telemetry writer: request threads hand events off, one thread stores them.

`emit(event)` is all a request pays: one JSON line appended to this process's spool segment
(see telemetry.spool). A daemon thread, started on first use in each process (so after
gunicorn forks), reads the spool in batches and writes them to the configured store; if that
fails, to the CSV fallback, and it tries the configured store again every
RETRY_PRIMARY_INTERVAL seconds. It also ships the segments of processes that died.

If the spool itself cannot be written (disk full, directory unwritable), events wait in a
bounded in-memory overflow instead; past its bound they are counted as dropped and logged.
"""

import atexit
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from dgen_ping_site.clock import iso_utc
from telemetry.backends import backend_config, get_backend, reset_backends
from telemetry.backends.base import PartialWrite, TelemetryBackend
from telemetry.query import parse_timestamp
from telemetry.spool import Segment, other_segments, remove_stray_checkpoints

logger = logging.getLogger("telemetry")

MAX_OVERFLOW = 10_000
_CREDENTIALS = re.compile(r"(\w+://)[^@/\s]+@")


class TelemetryWriter:
    """Spools events on the request thread and ships them from its own thread."""

    def __init__(
        self,
        *,
        primary: TelemetryBackend,
        fallback: TelemetryBackend | None,
        spool_dir: Path,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        retry_primary_interval: float = 30.0,
        recovery_interval: float = 10.0,
        segment_bytes: int = 16 * 1024 * 1024,
    ):
        self.pid = os.getpid()
        self.primary, self.fallback = primary, fallback
        self.spool_dir = Path(spool_dir)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_interval = retry_primary_interval
        self.recovery_interval = recovery_interval
        self.segment_bytes = segment_bytes
        self._append_lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._segment: Segment | None = None
        self._draining: list[Segment] = []  # rotated away, not yet fully shipped
        self._overflow: deque[dict] = deque()
        self._primary_due = self._next_probe = 0.0
        self.state = "starting"
        self.appended = self.shipped = self.recovered = self.dropped = 0
        self.last_error: str | None = None
        self.last_write: str | None = None

    @classmethod
    def from_settings(cls) -> "TelemetryWriter":
        conf = settings.TELEMETRY
        same = _store_of(backend_config("fallback")) == _store_of(backend_config("default"))
        return cls(
            primary=get_backend("default"),
            fallback=None if same else get_backend("fallback"),
            spool_dir=conf["SPOOL_DIR"],
            batch_size=conf["BATCH_SIZE"],
            flush_interval=conf["FLUSH_INTERVAL"],
            retry_primary_interval=conf["RETRY_PRIMARY_INTERVAL"],
            recovery_interval=conf["RECOVERY_INTERVAL"],
            segment_bytes=conf["SPOOL_SEGMENT_BYTES"],
        )

    # --- the request thread's side --------------------------------------------------------

    def emit(self, event: dict) -> None:
        """Hand an event off: spooled to disk before this returns (or held in memory)."""
        line = json.dumps(event, separators=(",", ":"), default=str).encode() + b"\n"
        with self._append_lock:
            if self._spool(line) or self._hold_in_memory(event):
                self.appended += 1
            backlog = self.appended - self.shipped
        if backlog >= self.batch_size:
            self._wake.set()

    def _spool(self, line: bytes) -> bool:
        try:
            if self._segment is None:
                self._segment = Segment.create(self.spool_dir)
            self._segment.append(line)
            return True
        except OSError as exc:
            if not self._overflow:
                logger.error("Telemetry spool unwritable (%s); holding events in memory.", exc)
            return False

    def _hold_in_memory(self, event: dict) -> bool:
        if len(self._overflow) < MAX_OVERFLOW:
            self._overflow.append(event)
            return True
        self.dropped += 1
        if self.dropped == 1:
            logger.error("Telemetry overflow full: events are being dropped.")
        return False

    # --- the writer thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="telemetry-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_recovery = 0.0
        while not self._stop.is_set():
            try:
                with self._ship_lock:
                    self._ship_own()
                    self._probe_if_due()
                    if time.monotonic() >= next_recovery:
                        next_recovery = time.monotonic() + self.recovery_interval
                        self._adopt_orphans()
            except Exception as exc:  # the thread must outlive any surprise
                logger.exception("Telemetry writer error")
                self.last_error = describe_error(exc)
            self._wake.wait(self.flush_interval)
            self._wake.clear()

    def _probe_primary(self) -> None:
        health = self.primary.health()
        self._next_probe = time.monotonic() + self.retry_interval
        if health["ok"]:
            self._primary_due = 0.0
            # With events waiting, the next write says whether the store takes them: a store
            # that answers but cannot write (a full disk) must not look healthy meanwhile.
            if not self.pending():
                self._set_state(self.primary.mode())
        else:
            self.last_error = describe_error(health["error"])
            self._primary_due = self._next_probe
            self._set_state("csv_fallback" if self.fallback else "unavailable")

    def _probe_if_due(self) -> None:
        """Not (yet) known to be on the configured store: look, so /health does not lag."""
        if self.state != "connected" and time.monotonic() >= self._next_probe:
            self._probe_primary()

    def _ship_own(self) -> bool:
        """Store the overflow and our unshipped spooled events; False if no store took them."""
        if not self._ship_overflow():
            return False
        for segment in [*self._draining, self._segment]:
            if segment is None:
                continue
            shipped = self._ship_segment(segment)
            self.shipped += shipped.count
            if not shipped.done:
                return False
            if segment in self._draining:
                self._draining.remove(segment)
                segment.close(remove=True)
        self._rotate_if_large()
        return True

    def _ship_overflow(self) -> bool:
        while self._overflow:
            count = min(self.batch_size, len(self._overflow))
            events = [self._overflow.popleft() for _ in range(count)]
            if not self._store(events):
                self._overflow.extendleft(reversed(events))
                return False
            self.shipped += count
        return True

    def _ship_segment(self, segment: Segment, dedupe: bool = False) -> "_Shipped":
        """Ship a segment's lines from its checkpoint on, batch by batch.

        With dedupe (an orphan), events a store already holds are skipped, for as long as
        batches keep containing some: the owner may have stored one batch and died before
        saving its checkpoint, so only a run of batches right after it can be stored.
        """
        shipped = _Shipped()
        while (batch := segment.read(self.batch_size)) is not None:
            events = batch.events
            if dedupe:
                events, dedupe = self._without_stored(events)
            if events and not self._store(events):
                return shipped
            segment.commit(batch)
            shipped.count += len(events)
        shipped.done = True
        return shipped

    def _without_stored(self, events: list[dict]) -> tuple[list[dict], bool]:
        if not events:
            return events, True
        ids = [event["event_id"] for event in events]
        since = min(parse_timestamp(event["timestamp"]) for event in events)
        stored: set[str] = set()
        for store in (self.primary, self.fallback):
            try:
                stored |= store.existing_ids(ids, since=since) if store else set()
            except Exception as exc:
                self.last_error = describe_error(exc)  # unreachable: it cannot hold them either
        return [e for e in events if e["event_id"] not in stored], bool(stored)

    def _store(self, events: Sequence[dict]) -> bool:
        # With no fallback, the configured store is all there is: always knock.
        if self.fallback is None or time.monotonic() >= self._primary_due:
            try:
                self.primary.write_batch(events)
                return self._stored(self.primary.mode())
            except Exception as exc:
                self._failed(exc)
                self._primary_due = time.monotonic() + self.retry_interval
                events = _not_stored(events, exc)
        if self.fallback is not None:
            try:
                self.fallback.write_batch(events)
                return self._stored("csv_fallback")
            except Exception as exc:
                self._failed(exc)
        self._set_state("unavailable")
        return False

    def _stored(self, state: str) -> bool:
        self._set_state(state)
        self.last_write = iso_utc()
        return True

    def _failed(self, exc: Exception) -> None:
        self.last_error = describe_error(exc)
        logger.warning("Telemetry store failed: %s", self.last_error)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            log = logger.info if state == "connected" else logger.warning
            log("Telemetry storage: %s -> %s", self.state, state)
            self.state = state

    def _rotate_if_large(self) -> None:
        """Start a new segment once the current one is big; the old one drains, then goes."""
        if self._segment is None or self._segment.size < self.segment_bytes:
            return
        try:
            fresh = Segment.create(self.spool_dir)
        except OSError as exc:
            self.last_error = describe_error(exc)
            return
        with self._append_lock:
            old, self._segment = self._segment, fresh
        if old.pending_bytes:
            self._draining.append(old)
        else:
            old.close(remove=True)

    def _adopt_orphans(self) -> None:
        own = {s.path for s in [*self._draining, self._segment] if s is not None}
        for path in other_segments(self.spool_dir, own):
            segment = Segment.adopt(path)
            if segment is None:
                continue  # its owner is alive
            shipped = self._ship_segment(segment, dedupe=True)
            segment.close(remove=shipped.done)
            self.recovered += shipped.count
            if shipped.count:
                logger.info("Recovered %d telemetry events from %s", shipped.count, path.name)
            if not shipped.done:
                return
        remove_stray_checkpoints(self.spool_dir)

    # --- control --------------------------------------------------------------------------

    def pending(self) -> int:
        """Events handed to this writer and not stored yet."""
        return self.appended - self.shipped

    def flush(self, timeout: float = 10.0) -> bool:
        """Store what is spooled now, ours and dead processes'; True if nothing is left."""
        if not self._ship_lock.acquire(timeout=timeout):
            return False
        try:
            self._ship_own()
            self._adopt_orphans()
        finally:
            self._ship_lock.release()
        return self.pending() == 0

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop the thread, store everything, release the spool; True if nothing is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        done = self.flush(timeout)
        with self._append_lock:
            segments = [*self._draining, self._segment]
            self._segment, self._draining = None, []
        for segment in filter(None, segments):
            # Unshipped lines stay on disk for the next process to adopt.
            segment.close(remove=segment.pending_bytes == 0)
        if self._overflow:
            logger.error("Telemetry: %d events lost (spool unwritable)", len(self._overflow))
        return done

    def forget(self) -> None:
        """In a forked child: let go of the parent's files without touching them."""
        for segment in filter(None, [*self._draining, self._segment]):
            segment.forget()

    def status(self) -> dict:
        """What /health shows; no I/O."""
        return {
            "status": self.state,
            "spooled": self.pending(),
            "stored": self.shipped,
            "recovered": self.recovered,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "last_write": self.last_write,
        }


class _Shipped:
    __slots__ = ("count", "done")

    def __init__(self):
        self.count, self.done = 0, False


def _not_stored(events: Sequence[dict], error: Exception) -> Sequence[dict]:
    """The events a failed write did not store: all, unless it said which it did."""
    if not isinstance(error, PartialWrite):
        return events
    return [event for event in events if event["event_id"] not in error.stored_ids]


def _store_of(config) -> tuple:
    return config["BACKEND"], config.get("OPTIONS", {})


def describe_error(error) -> str:
    """An error as /health may show it: short, and without credentials from any URI."""
    return _CREDENTIALS.sub(r"\1***@", str(error))[:500]


# --- the process's writer -------------------------------------------------------------------

_writer: TelemetryWriter | None = None
_writer_lock = threading.Lock()


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
            _writer = TelemetryWriter.from_settings()
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
    reset_backends()


def _after_fork_in_child() -> None:
    global _writer, _writer_lock
    _writer_lock = threading.Lock()  # the parent's may have been held at the fork
    inherited, _writer = _writer, None
    if inherited is not None:
        inherited.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)
