"""The shipper process: ships every gunicorn worker's spool, so that workers only append.

Started beside the workers and restarted if it dies by gunicorn's master
(telemetry.supervisor, from gunicorn.conf.py's hooks), as `manage.py ship_telemetry`. Each
round it ships the workers' hand-off segments (telemetry.spool) from their checkpoints,
reading them without their lock: their owners only append, and only this process saves
their checkpoints. Every `recovery_interval` it also recovers what dead processes left (a
killed worker's segment, one a worker handed over, doubts; telemetry.recovery), which
deletes the segments once shipped. After each round it rewrites a small status file that
the workers' /health reads (`read_status`), and publishes its metrics.

One shipper at a time per spool directory (an flock on `shipper.lock`). On SIGTERM (the
master, once its workers have exited) or when the master is gone, it ships what is left,
settles what doubts it can, and exits. Once-a-second batches thus run in this process,
not on a request worker's GIL.
"""

import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path

from telemetry.backends.chain import ChainStore
from telemetry.metrics.recording import WriterMetrics
from telemetry.recovery import recover_orphans
from telemetry.shipper import Shipper, shipping_settings
from telemetry.spool import Segment, handoff_segments, other_segments

logger = logging.getLogger("telemetry")

STATUS_FILE = "shipper.status"
LOCK_FILE = "shipper.lock"


class SpoolShipper:
    """Ships the hand-off segments of a spool directory, and recovers dead processes'."""

    def __init__(
        self,
        *,
        store: ChainStore,
        spool_dir: Path,
        quarantine_dir: Path | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        recovery_interval: float = 10.0,
        parent: int | None = None,
    ):
        self.directory = Path(spool_dir)
        self.store = store
        self.shipper, self.doubts = Shipper.for_spool(store, spool_dir, quarantine_dir, batch_size)
        self.flush_interval = flush_interval
        self.recovery_interval = recovery_interval
        self.parent = parent
        self.watched: dict[Path, Segment] = {}
        self.shipped = self.recovered = self.backlog = 0
        self.metrics = WriterMetrics()
        self._stop = threading.Event()

    @classmethod
    def from_settings(cls, parent: int | None = None) -> "SpoolShipper":
        return cls(**shipping_settings(), parent=parent)

    # --- the process's life -----------------------------------------------------------------

    def run(self) -> None:
        """Ship every `flush_interval` until stopped or orphaned, then drain."""
        lock = self._lock()
        if lock is None:
            return
        try:
            next_round = next_recovery = 0.0
            while not self._stop.is_set() and self._parent_lives():
                now = time.monotonic()
                if now >= next_round:
                    recover = now >= next_recovery
                    if recover:
                        next_recovery = now + self.recovery_interval
                    self._guarded(self.round, recover)
                    next_round = time.monotonic() + self.flush_interval
                # At most a second between looks at the parent, whatever the interval.
                self._stop.wait(min(1.0, max(0.0, next_round - time.monotonic())))
            self._guarded(self.drain)
        finally:
            os.close(lock)

    def stop(self) -> None:
        """Ask `run` to drain and return (a signal handler may call this)."""
        self._stop.set()

    def _parent_lives(self) -> bool:
        return self.parent is None or os.getppid() == self.parent

    def _lock(self) -> int | None:
        """The directory's shipper lock, held; waits while another shipper holds it (None:
        stopped meanwhile)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if not waiting:
                    logger.warning("Another telemetry shipper runs here; waiting for it.")
                    waiting = True
            if self._stop.wait(0.2) or not self._parent_lives():
                os.close(fd)
                return None

    def _guarded(self, work, *args) -> None:
        try:
            work(*args)
        except Exception as exc:  # the process must outlive any surprise
            logger.exception("Telemetry shipper error")
            self.shipper.last_error = str(exc)[:200]

    # --- rounds -------------------------------------------------------------------------------

    def round(self, recover: bool = True) -> bool:
        """Ship what the workers appended (and, with `recover`, what dead processes left);
        True if nothing is left."""
        done = self._ship_live()
        if self.store.status != "connected":
            self.store.probe(idle=done)
        if recover:
            self._recover()
        self.store.settle_doubts()  # idle, a store may have come back unasked
        self._report(done)
        return done

    def drain(self) -> bool:
        """The last round: dead processes' segments first (their owners are gone now), then
        anything still live, asking every store about the open doubts; True if all is
        stored."""
        self._recover()
        self._ship_live()
        self._recover()  # deletes the segments shipped just now
        done = not other_segments(self.directory, (), handoff=True)
        self.store.settle_doubts(ignore_cool_downs=True)
        self._report(done)
        self.doubts.close()
        for segment in self.watched.values():
            segment.forget()
        self.watched.clear()
        return done

    def _ship_live(self) -> bool:
        paths = handoff_segments(self.directory)
        for gone in set(self.watched) - set(paths):
            self.watched.pop(gone).forget()
        for path in paths:
            segment = self.watched.get(path) or self._watch(path)
            if segment is None:
                continue
            segment.refresh()
            shipped = self.shipper.ship_segment(segment)
            self.shipped += shipped.lines
            if not shipped.done:
                return False
        return True

    def _watch(self, path: Path) -> Segment | None:
        segment = Segment.watch(path)
        if segment is not None:
            self.watched[path] = segment
        return segment

    def _recover(self) -> None:
        self.recovered += recover_orphans(self.directory, (), self.shipper, self.doubts, True)

    # --- what the workers and Prometheus see ------------------------------------------------

    def _report(self, done: bool) -> None:
        self.backlog = 0 if done else sum(s.pending_lines() for s in self.watched.values())
        status = self.status()
        try:
            write_status(self.directory, status)
        except OSError as exc:  # a full disk: the workers see the file grow stale
            logger.warning("Telemetry shipper: cannot write its status (%s)", exc)
        totals = self.shipper.totals(recovered=self.recovered, dropped=0)
        try:
            self.metrics.publish(
                totals=totals,
                backlog=self.backlog,
                status=status["status"],
                stores=status["stores"],
            )
        except Exception:  # metrics must never stop telemetry from being stored
            logger.exception("Could not publish the telemetry shipper's metrics")

    def status(self) -> dict:
        """What /health shows of the spool and the stores, as TelemetryWriter.status does."""
        return self.shipper.status(
            spooled=self.backlog,
            stored=self.shipper.stored,
            recovered=self.recovered,
            dropped=0,
            doubts=len(self.doubts),
        )


# --- the status file ----------------------------------------------------------------------------


def stale_after(flush_interval: float) -> float:
    """Seconds after which a status file no longer describes a working shipper: rounds come
    every flush interval, and one may wait on a store's time-outs."""
    return max(30.0, 5 * flush_interval)


def write_status(directory: Path, status: dict) -> None:
    """Replace the status file at once (a reader sees the old one or the new one)."""
    path = Path(directory) / STATUS_FILE
    temporary = path.with_name(f"{STATUS_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({**status, "pid": os.getpid(), "written": time.time()}))
    os.replace(temporary, path)


def remove_status(directory: Path) -> None:
    """(The master, before it starts a shipper) No worker may read a dead shipper's figures."""
    (Path(directory) / STATUS_FILE).unlink(missing_ok=True)


def read_status(directory: Path, stale_after: float) -> dict:
    """The shipper's last status, for a worker's /health: "starting" until there is one,
    "unavailable" if it has not been rewritten for `stale_after` seconds."""
    try:
        status = json.loads((Path(directory) / STATUS_FILE).read_bytes())
    except (OSError, ValueError):
        return _placeholder("starting", None)
    age = time.time() - status.pop("written", 0)
    status.pop("pid", None)
    if age > stale_after:
        error = f"the telemetry shipper has not reported for {age:.0f} s"
        return {**status, "status": "unavailable", "last_error": error}
    return status


def _placeholder(status: str, error: str | None) -> dict:
    return {
        "status": status,
        "spooled": 0,
        "stored": 0,
        "recovered": 0,
        "quarantined": 0,
        "corrupt": 0,
        "dropped": 0,
        "doubts": 0,
        "last_error": error,
        "last_write": None,
        "stores": [],
    }
