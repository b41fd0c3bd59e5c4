"""The local, append-only log events wait in until a store has them.

Each process appends to its own segment file (`<pid>-<ns>.spool`), one JSON line per event,
with one write() on an O_APPEND fd before the response leaves. Once write() returns, the
line is in the kernel's page cache: it survives the process being killed (SIGKILL, OOM),
not the machine losing power (no fsync: that would cost milliseconds per request).

The owner holds an flock on its segment for as long as it lives, and records in
`<segment>.ckpt` the byte offset up to which events are stored. A segment whose flock can be
taken belongs to a dead process: telemetry.recovery hands its unshipped lines to a store.
The checkpoint is saved after a batch is stored, so a crash in between can ship that batch
twice; whoever ships an orphan must drop events the store already has.

Under gunicorn the workers only append: their segments are named `<pid>-<ns>.handoff.spool`
and shipped, while their owner lives, by the shipper process beside them
(telemetry.shipper_process), which reads them without their lock and alone saves their
checkpoints. A worker hands a large segment over by closing it (the shipper then adopts it
as a dead process's). Writers that ship their own segments (runserver, tests) leave hand-off
segments alone, so no segment is ever shipped by two processes at once.

`Spool` is the appending side, on the request threads; telemetry.shipper reads segments.
"""

import errno
import fcntl
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("telemetry")

SUFFIX = ".spool"
HANDOFF = ".handoff"  # a segment its owner does not ship: the shipper process does
CHECKPOINT_SUFFIX = ".ckpt"
_READ_CHUNK = 256 * 1024


@dataclass
class Batch:
    """Events read from a segment, and the offset to checkpoint once they are stored.

    `corrupt` holds the lines that are not events (torn by disk corruption or edited by
    hand), with the reason: they are set aside with the events a store refuses.
    """

    segment: "Segment | None"
    events: list[dict]
    end: int
    corrupt: list[tuple[bytes, str]] = field(default_factory=list)


class Segment:
    """One spool file, locked by this process, with its checkpoint."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd
        self.checkpoint_path = path.with_name(path.name + CHECKPOINT_SUFFIX)
        self.shipped = _read_checkpoint(self.checkpoint_path)
        self.size = os.fstat(fd).st_size
        self.unsure = False  # a failed ship may have stored part of the next batch

    @classmethod
    def create(cls, directory: Path, handoff: bool = False) -> "Segment":
        directory.mkdir(parents=True, exist_ok=True)
        tag = HANDOFF if handoff else ""
        path = directory / f"{os.getpid()}-{time.time_ns()}{tag}{SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return cls(path, fd)

    @classmethod
    def adopt(cls, path: Path) -> "Segment | None":
        """Lock a segment whose owner is gone; None if it lives or the file went away."""
        fd = lock_orphan(path)
        return None if fd is None else cls(path, fd)

    @classmethod
    def watch(cls, path: Path) -> "Segment | None":
        """Open a live worker's hand-off segment to ship it, without its lock (the shipper
        process); None if it went away. `unsure`: a shipper before us may have stored the
        batch after the checkpoint and died before saving it."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        segment = cls(path, fd)
        segment.unsure = True
        return segment

    def refresh(self) -> None:
        """See what the owner appended since (a watched segment)."""
        self.size = os.fstat(self.fd).st_size

    def pending_lines(self) -> int:
        """Lines after the checkpoint: the backlog, counted only when it is not shipped."""
        count, offset = 0, self.shipped
        while offset < self.size:
            chunk = os.pread(self.fd, min(_READ_CHUNK * 4, self.size - offset), offset)
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset += len(chunk)
        return count

    def append(self, line: bytes) -> None:
        """Add one line; callers serialise appends (writer.TelemetryWriter holds a lock)."""
        written = os.write(self.fd, line)
        if written != len(line):
            # Disk full part-way: cut the fragment off so the next line starts cleanly.
            os.ftruncate(self.fd, self.size)
            raise OSError(errno.ENOSPC, "Spool segment write was cut short")
        self.size += written

    def read(self, max_events: int) -> Batch | None:
        """Up to max_events complete lines after the checkpoint; None when there are none."""
        start = offset = self.shipped
        batch = Batch(self, [], start)
        chunk_size = _READ_CHUNK
        while len(batch.events) < max_events and offset < self.size:
            chunk = os.pread(self.fd, min(chunk_size, self.size - offset), offset)
            cut = chunk.rfind(b"\n")
            if cut < 0:
                if len(chunk) == self.size - offset:
                    break  # an unfinished last line: being written, or cut off by a crash
                chunk_size *= 2  # one line longer than the chunk
                continue
            for line in chunk[:cut].split(b"\n")[: max_events - len(batch.events)]:
                offset += len(line) + 1
                _parse_into(batch, line)
        if offset == start:
            return None
        batch.end = offset
        return batch

    def commit(self, batch: Batch) -> None:
        """Record that the batch's events are stored."""
        self.shipped = batch.end
        os.pwrite(self._checkpoint_fd(), b"%020d" % batch.end, 0)

    def _checkpoint_fd(self) -> int:
        if not hasattr(self, "_ckpt_fd"):
            self._ckpt_fd = os.open(self.checkpoint_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._ckpt_fd

    @property
    def pending_bytes(self) -> int:
        return self.size - self.shipped

    def close(self, remove: bool) -> None:
        """Release the lock; with remove, delete the files first (everything is stored)."""
        if remove:
            _unlink(self.path)
            _unlink(self.checkpoint_path)
        if hasattr(self, "_ckpt_fd"):
            os.close(self._ckpt_fd)
        os.close(self.fd)

    def forget(self) -> None:
        """Drop the fds inherited over fork without touching the parent's lock or files."""
        self.close(remove=False)


def lock_orphan(path: Path) -> int | None:
    """An fd on a file of a dead process (a segment, a ledger of doubts), locked by us now;
    None if its process lives (it holds the lock) or the file went away."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The owner may have deleted it (done with) between our open and our lock.
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass
    os.close(fd)
    return None


def parse_lines(lines: Collection[bytes]) -> Batch:
    """Spool lines (held in memory) as a batch of events and corrupt lines."""
    batch = Batch(None, [], 0)
    for line in lines:
        _parse_into(batch, line.rstrip(b"\n"))
    return batch


def _parse_into(batch: Batch, line: bytes) -> None:
    # json, not orjson: a line spooled by an older version may hold an integer beyond 64
    # bits, which orjson would read as a float.
    try:
        event = json.loads(line)
    except (ValueError, RecursionError) as exc:
        batch.corrupt.append((line, f"unreadable spool line: {exc}"))
        return
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
        batch.corrupt.append((line, "spool line is not an event (no event_id)"))
        return
    batch.events.append(event)


class Spool:
    """This process's side of the spool: request threads append, the shipper reads.

    Appends go to the current segment, which is replaced by a fresh one once it is large
    (the old one drains, then goes). If the spool cannot be written (disk full, directory
    unwritable), lines wait in a bounded in-memory overflow instead; past its bound they
    are counted as dropped and logged.
    """

    def __init__(
        self,
        directory: Path,
        segment_bytes: int,
        max_overflow: int = 10_000,
        handoff: bool = False,
    ):
        self.directory = Path(directory)
        self.handoff = handoff
        self.segment_bytes = segment_bytes
        self.max_overflow = max_overflow
        self.lock = threading.Lock()
        self.current: Segment | None = None
        self.draining: list[Segment] = []  # replaced, not yet fully shipped
        self.overflow: deque[bytes] = deque()
        self.appended = self.dropped = 0

    def append(self, line: bytes) -> bool:
        """Add one line (on disk before this returns, or held in memory); False if dropped."""
        with self.lock:
            if self._to_disk(line) or self._to_memory(line):
                self.appended += 1
                return True
            return False

    def _to_disk(self, line: bytes) -> bool:
        try:
            if self.current is None:
                self.current = Segment.create(self.directory, self.handoff)
            self.current.append(line)
            return True
        except OSError as exc:
            if not self.overflow:
                logger.error("Telemetry spool unwritable (%s); holding events in memory.", exc)
            return False

    def _to_memory(self, line: bytes) -> bool:
        if len(self.overflow) < self.max_overflow:
            self.overflow.append(line)
            return True
        self.dropped += 1
        if self.dropped == 1:
            logger.error("Telemetry overflow full: events are being dropped.")
        return False

    def hand_over_if_large(self) -> None:
        """(A hand-off spool) Close the current segment once it is large: the shipper process
        adopts it, ships the rest and deletes it; the next line starts a new one."""
        current = self.current
        if current is None or current.size < self.segment_bytes:
            return
        with self.lock:
            if self.current is current:
                self.current = None
                current.close(remove=False)

    def segments(self) -> list[Segment]:
        """Our segments, oldest first: what the shipper has to read."""
        return [*self.draining, *filter(None, [self.current])]

    def drained(self, segment: Segment) -> None:
        """A replaced segment is fully shipped: delete it."""
        if segment in self.draining:
            self.draining.remove(segment)
            segment.close(remove=True)

    def rotate_if_large(self) -> None:
        """Start a new segment once the current one is big; the old one drains, then goes."""
        if self.current is None or self.current.size < self.segment_bytes:
            return
        try:
            fresh = Segment.create(self.directory)
        except OSError as exc:
            logger.warning("Telemetry spool: cannot start a new segment (%s)", exc)
            return
        with self.lock:
            old, self.current = self.current, fresh
        if old.pending_bytes:
            self.draining.append(old)
        else:
            old.close(remove=True)

    def close(self) -> None:
        """Release our segments; those still holding unshipped lines stay for the next
        process to adopt."""
        with self.lock:
            segments, self.current, self.draining = self.segments(), None, []
        for segment in segments:
            segment.close(remove=segment.pending_bytes == 0)
        if self.overflow:
            logger.error("Telemetry: %d events lost (spool unwritable)", len(self.overflow))

    def forget(self) -> None:
        """In a forked child: let go of the parent's files without touching them."""
        for segment in self.segments():
            segment.forget()


def other_segments(directory: Path, own: Collection[Path], handoff: bool = False) -> list[Path]:
    """Segment files other than ours: their owners may be alive or dead (see adopt). Hand-off
    segments only with `handoff` (the shipper process's)."""
    try:
        paths = sorted(path for path in directory.glob("*" + SUFFIX) if path not in own)
    except OSError:
        return []
    return paths if handoff else [path for path in paths if not is_handoff(path)]


def handoff_segments(directory: Path) -> list[Path]:
    """The hand-off segments in the directory, oldest first by name."""
    try:
        return sorted(directory.glob("*" + HANDOFF + SUFFIX))
    except OSError:
        return []


def is_handoff(path: Path) -> bool:
    return path.name.endswith(HANDOFF + SUFFIX)


def remove_stray_checkpoints(directory: Path) -> None:
    """Checkpoints whose segment is gone: left by a crash between the two unlinks."""
    for path in directory.glob("*" + SUFFIX + CHECKPOINT_SUFFIX):
        if not _segment_of(path).exists():
            _unlink(path)


def prune(directory: Path, before: float, *, dry_run: bool = False) -> list[Path]:
    """Delete what dead processes left (segments, checkpoints) last written before `before`
    (a time.time() value); live processes' segments are never touched."""
    old = []
    for path in sorted(directory.glob("*" + SUFFIX)):
        segment = Segment.adopt(path) if _mtime(path) < before else None
        if segment is not None:
            old += [p for p in (path, segment.checkpoint_path) if p.exists()]
            segment.close(remove=not dry_run)
    for path in directory.glob("*" + SUFFIX + CHECKPOINT_SUFFIX):
        if path not in old and _mtime(path) < before and not _segment_of(path).exists():
            old.append(path)
            if not dry_run:
                _unlink(path)
    return old


def _segment_of(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name[: -len(CHECKPOINT_SUFFIX)])


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _read_checkpoint(path: Path) -> int:
    try:
        return int(path.read_bytes() or b"0")
    except (FileNotFoundError, ValueError):
        return 0


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
