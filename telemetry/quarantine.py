"""Where events no store will take are set aside, so that one event never wedges the rest.

A store refuses an event for what it holds (telemetry.backends.base.EventsRefused: text
that is not Unicode for CSV; a NUL in a key, an integer beyond 64 bits, a document over
16 MiB for MongoDB), and a spool line can be unreadable. Retrying either cannot help, so the
writer, the recovery of dead processes' spools and the replay all put them here, one JSON
line each with the store's reason, and carry on with the rest of the batch.

Files are `<directory>/quarantine-<YYYYMMDD>.jsonl` (UTC day), appended to by every process
under an flock. A line is {"quarantined_at", "store", "error", "event"} or, for a spool line
that is not an event, {"quarantined_at", "store": "spool", "error", "line"}. The event is
kept as it was (JSON escapes keep even a lone surrogate), for a person to look at and, if it
matters, mend and send again: nothing is dropped silently.
"""

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from dgen_ping_site.clock import iso_utc
from telemetry.sanitize import safe_event

logger = logging.getLogger("telemetry")

GLOB = "quarantine-*.jsonl"


class Quarantine:
    """The quarantine directory, and how many events this process put there."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.count = 0

    def events(self, events: Iterable[dict], refused: dict[str, str], store: str) -> None:
        """Set aside the events whose ids `refused` maps to the store's reason."""
        records = [
            {"store": store, "error": refused[event["event_id"]], "event": event}
            for event in events
            if event["event_id"] in refused
        ]
        self._add(records)

    def lines(self, lines: Iterable[tuple[bytes, str]]) -> None:
        """Set aside spool lines that are not events, with why."""
        records = [
            {"store": "spool", "error": reason, "line": line.decode("utf-8", "backslashreplace")}
            for line, reason in lines
        ]
        self._add(records)

    def _add(self, records: list[dict]) -> None:
        """Append the records (raises OSError if they cannot be kept: then nothing moves on)."""
        if not records:
            return
        now = iso_utc()
        data = b"".join(_line({"quarantined_at": now, **record}) for record in records)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"quarantine-{datetime.now(UTC):%Y%m%d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.count += len(records)
        for record in records:
            event_id = record.get("event", {}).get("event_id", "-")
            logger.error(
                "Telemetry event %s quarantined in %s (%s): %s",
                event_id,
                path,
                record["store"],
                record["error"],
            )

    def files(self) -> list[Path]:
        return sorted(self.directory.glob(GLOB))

    def prune(self, before: float, *, dry_run: bool = False) -> list[Path]:
        """Delete quarantine files last written before `before` (a time.time() value)."""
        old = [path for path in self.files() if path.stat().st_mtime < before]
        if not dry_run:
            for path in old:
                path.unlink(missing_ok=True)
        return old

    def records(self) -> Iterator[dict]:
        """Every quarantined record, oldest file first."""
        for path in self.files():
            with open(path, "rb") as handle:
                for line in handle:
                    yield json.loads(line)


def _line(record: dict) -> bytes:
    # json with ASCII escapes keeps a lone surrogate as \ud800, exactly as it came.
    try:
        text = json.dumps(record, ensure_ascii=True, default=str)
    except ValueError:  # an integer too long for text: keep what can be kept
        text = json.dumps({**record, "event": safe_event(record["event"])}, default=str)
    return text.encode() + b"\n"
