"""The local, append-only log events wait in until a store has them.

Each process appends to its own segment file (`<pid>-<ns>.spool`), one JSON line per event,
with one write() on an O_APPEND fd before the response leaves. Once write() returns, the
line is in the kernel's page cache: it survives the process being killed (SIGKILL, OOM),
not the machine losing power (no fsync: that would cost milliseconds per request).

The owner holds an flock on its segment for as long as it lives, and records in
`<segment>.ckpt` the byte offset up to which events are stored. A segment whose flock can be
taken belongs to a dead process: `adopt_orphans()` hands its unshipped lines to someone
else. The checkpoint is saved after a batch is stored, so a crash in between can ship that
batch twice; whoever ships an orphan must drop events the store already has.
"""

import errno
import fcntl
import json
import os
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".spool"
CHECKPOINT_SUFFIX = ".ckpt"
_READ_CHUNK = 256 * 1024


@dataclass
class Batch:
    """Events read from a segment, and the offset to checkpoint once they are stored."""

    segment: "Segment"
    events: list[dict]
    end: int


class Segment:
    """One spool file, locked by this process, with its checkpoint."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd
        self.checkpoint_path = path.with_name(path.name + CHECKPOINT_SUFFIX)
        self.shipped = _read_checkpoint(self.checkpoint_path)
        self.size = os.fstat(fd).st_size
        self.corrupt_lines = 0

    @classmethod
    def create(cls, directory: Path) -> "Segment":
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{os.getpid()}-{time.time_ns()}{SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return cls(path, fd)

    @classmethod
    def adopt(cls, path: Path) -> "Segment | None":
        """Lock a segment whose owner is gone; None if it lives or the file went away."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # The owner may have deleted it (fully shipped) between our open and our lock.
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return cls(path, fd)
        except (BlockingIOError, FileNotFoundError):
            pass
        os.close(fd)
        return None

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
        events: list[dict] = []
        chunk_size = _READ_CHUNK
        while len(events) < max_events and offset < self.size:
            chunk = os.pread(self.fd, min(chunk_size, self.size - offset), offset)
            cut = chunk.rfind(b"\n")
            if cut < 0:
                if len(chunk) == self.size - offset:
                    break  # an unfinished last line: being written, or cut off by a crash
                chunk_size *= 2  # one line longer than the chunk
                continue
            for line in chunk[:cut].split(b"\n")[: max_events - len(events)]:
                offset += len(line) + 1
                self._parse_into(events, line)
        if offset == start:
            return None
        return Batch(self, events, offset)

    def _parse_into(self, events: list[dict], line: bytes) -> None:
        try:
            events.append(json.loads(line))
        except ValueError:
            self.corrupt_lines += 1  # only disk corruption can do this; counted in status

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


def other_segments(directory: Path, own: Collection[Path]) -> list[Path]:
    """Segment files other than ours: their owners may be alive or dead (see adopt)."""
    try:
        return sorted(path for path in directory.glob("*" + SUFFIX) if path not in own)
    except OSError:
        return []


def remove_stray_checkpoints(directory: Path) -> None:
    """Checkpoints whose segment is gone: left by a crash between the two unlinks."""
    for path in directory.glob("*" + SUFFIX + CHECKPOINT_SUFFIX):
        if not path.with_name(path.name[: -len(CHECKPOINT_SUFFIX)]).exists():
            _unlink(path)


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
