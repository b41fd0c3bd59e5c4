"""Events a store may hold without the chain knowing it: doubts, kept until settled.

Two things leave one. A store loses touch with a write it was sent (UncertainWrite: its
server died between storing the batch and answering), and the chain writes the batch to
the next store. Or the chain is asked which events it holds (before a batch that may
already be stored is written again) while one of its stores cannot be asked. Either way,
the events may end up in two stores. A doubt names the store and the events; the chain
settles it once every store answers, leaving each event in one store
(telemetry.backends.chain).

A doubt must outlive the process that has it, which may be stopped or killed before the
store answers again. `DoubtLedger` keeps them in the spool directory, in
`<pid>-<ns>.doubts`: a JSON line for each doubt, and one for each doubt settled. Like a spool
segment, the file is locked (flock) by its process while it lives, and it is deleted as
soon as no doubt in it is open. A ledger whose lock can be taken belongs to a dead process:
the next writer to look for dead processes' spools takes its open doubts over into its own
ledger (telemetry.recovery) and settles them.
"""

import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dgen_ping_site.clock import iso_utc
from telemetry import spool
from telemetry.query import parse_timestamp

logger = logging.getLogger("telemetry")

SUFFIX = ".doubts"


@dataclass(frozen=True)
class Doubt:
    """`store` (an alias of the chain) may hold any of `ids`, which may be stored elsewhere."""

    store: str
    ids: frozenset[str]
    since: datetime | None  # the earliest event's time: no copy of one is older
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def record(self) -> dict:
        since = iso_utc(self.since) if self.since else None
        return {"doubt": self.key, "store": self.store, "ids": sorted(self.ids), "since": since}

    @classmethod
    def from_record(cls, record: dict) -> "Doubt":
        since = parse_timestamp(record["since"]) if record["since"] else None
        return cls(record["store"], frozenset(record["ids"]), since, record["doubt"])


class Doubts:
    """The open doubts of one chain, in memory (a chain with no spool: tests, tools)."""

    def __init__(self):
        self._open: dict[str, Doubt] = {}

    def __iter__(self) -> Iterator[Doubt]:
        return iter(list(self._open.values()))

    def __len__(self) -> int:
        return len(self._open)

    def add(self, doubt: Doubt) -> None:
        self._open[doubt.key] = doubt

    def settled(self, doubt: Doubt) -> None:
        self._open.pop(doubt.key, None)

    def ids_about(self, store: str) -> set[str]:
        """The events open doubts say `store` may hold."""
        return {event_id for d in self._open.values() if d.store == store for event_id in d.ids}


class DoubtLedger(Doubts):
    """The doubts of this process, in memory and in its ledger file in the spool directory.

    The file is created with the first doubt. If it cannot be written (a full disk), the
    doubt is kept in memory only, and logged: it is then lost if the process dies first.
    """

    def __init__(self, directory: str | os.PathLike):
        super().__init__()
        self.directory = Path(directory)
        self.path: Path | None = None
        self._fd: int | None = None

    def add(self, doubt: Doubt) -> None:
        super().add(doubt)
        self._save([doubt])

    def settled(self, doubt: Doubt) -> None:
        super().settled(doubt)
        if len(self):
            self._write([{"settled": doubt.key}])
        else:
            self.close()  # nothing open: the file goes

    def _save(self, doubts: list[Doubt]) -> bool:
        """Write these doubts to the file (a new file: every open doubt, as some may have
        been kept in memory only); False if it cannot be written."""
        if self._fd is None:
            doubts = list(self)
        return self._write([doubt.record() for doubt in doubts])

    def _write(self, records: list[dict]) -> bool:
        data = b"".join(json.dumps(record).encode() + b"\n" for record in records)
        try:
            if self._fd is None:
                self._create()
            os.write(self._fd, data)
            return True
        except OSError as exc:
            logger.error("Telemetry: cannot record a doubt in the spool (%s): kept in memory", exc)
            return False

    def _create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{os.getpid()}-{time.time_ns()}{SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path, self._fd = path, fd

    def adopt_orphans(self) -> int:
        """Take over the open doubts dead processes left in the directory; how many."""
        taken = 0
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            if path == self.path:
                continue
            fd = spool.lock_orphan(path)
            if fd is None:
                continue  # its process lives
            try:
                doubts = _read_open(fd, path)
                for doubt in doubts:
                    super().add(doubt)
                if not doubts or self._save(doubts):  # in our file now: theirs can go
                    path.unlink(missing_ok=True)
            finally:
                os.close(fd)
            taken += len(doubts)
        return taken

    def close(self) -> None:
        """Release the file: deleted if no doubt is open, else left for whoever adopts it."""
        if self._fd is None:
            return
        if not len(self):
            self.path.unlink(missing_ok=True)  # while still locked: no one adopts it meanwhile
        os.close(self._fd)
        self.path, self._fd = None, None

    def forget(self) -> None:
        """In a forked child: drop the inherited fd (the parent keeps its lock and file)."""
        if self._fd is not None:
            os.close(self._fd)
        self.path, self._fd = None, None
        self._open.clear()


def _read_open(fd: int, path: Path) -> list[Doubt]:
    """The doubts of a ledger not settled in it (a torn last line is skipped)."""
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    open_doubts: dict[str, Doubt] = {}
    for line in data.splitlines():
        try:
            record = json.loads(line)
            if "settled" in record:
                open_doubts.pop(record["settled"], None)
            else:
                doubt = Doubt.from_record(record)
                open_doubts[doubt.key] = doubt
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("Telemetry: unreadable line in %s skipped: %s", path.name, exc)
    return list(open_doubts.values())
