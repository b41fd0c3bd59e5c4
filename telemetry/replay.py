"""Importing CSV fallback files into MongoDB, exactly once.

Each batch first asks MongoDB which of its event ids it already holds and inserts only the
others; inserts are keyed by event id (`_id`) as well, so a run that is interrupted, or
one racing another, never stores an event twice: run it again and it carries on. A file
is moved to `archive/` beside it only once every row is in MongoDB.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from django.conf import settings

from telemetry.backends import get_backend, load_backend
from telemetry.backends.csv import CURRENT, CSVBackend, read_file
from telemetry.backends.mongo import MongoBackend

logger = logging.getLogger("telemetry")

ARCHIVE_DIR = "archive"
DEFAULT_BATCH_SIZE = 1000


class ReplayError(Exception):
    """The replay cannot start: no MongoDB to import into, or no such file."""


@dataclass
class FileReplay:
    """What became of one file's rows."""

    path: Path
    imported: int = 0
    skipped: int = 0  # already in MongoDB (or twice in the file)
    failed: int = 0  # rows that are not readable events
    archived_to: Path | None = None


def mongo_target(uri: str | None = None) -> MongoBackend:
    """MongoDB at `uri` (with the configured options), else the configured Mongo store."""
    if uri:
        config = settings.TELEMETRY_BACKENDS["mongo"]
        backend = load_backend({**config, "OPTIONS": {**config["OPTIONS"], "uris": [uri]}})
    else:
        backend = get_backend()
    if not isinstance(backend, MongoBackend):
        raise ReplayError(
            "No MongoDB to import into: telemetry is stored in CSV "
            f"(TELEMETRY_BACKEND={settings.TELEMETRY_BACKEND}). Set MONGO_URI, or pass --mongo-uri."
        )
    return backend


def files_to_replay(*, files: Sequence[Path] = (), directory: Path | None = None) -> list[Path]:
    """The files named, or every data file of `directory` (default: the CSV fallback's).

    A live `telemetry.csv` is rotated first, so no writer appends to a file being imported.
    """
    if files:
        missing = [str(path) for path in files if not Path(path).is_file()]
        if missing:
            raise ReplayError(f"No such file: {', '.join(missing)}")
        return [_rotated(Path(path)) for path in files]
    if directory is not None and not directory.is_dir():
        raise ReplayError(f"No such directory: {directory}")
    store = CSVBackend(directory or get_backend("fallback").directory)
    store.rotate()
    return [path for path in store.files() if path.name != CURRENT]


def _rotated(path: Path) -> Path:
    if path.name != CURRENT:
        return path
    return CSVBackend(path.parent).rotate() or path


def replay_file(
    path: Path, *, target: MongoBackend, batch_size: int = DEFAULT_BATCH_SIZE, archive: bool = True
) -> FileReplay:
    """Import one file's events that MongoDB does not hold yet; archive it when complete."""
    report = FileReplay(path)

    def bad_row(line: int, reason: str) -> None:
        report.failed += 1
        logger.warning("Cannot replay %s line %d: %s", path, line, reason)

    events = read_file(path, on_bad_row=bad_row)
    while batch := list(islice(events, batch_size)):
        _import(batch, target, report)
    if archive and not report.failed:
        report.archived_to = _archive(path)
    return report


def _import(batch: list[dict], target: MongoBackend, report: FileReplay) -> None:
    identified = [event for event in batch if event["event_id"]]
    report.failed += len(batch) - len(identified)  # without an id it cannot be stored once
    unique = {event["event_id"]: event for event in identified}
    present = target.existing_ids(list(unique))
    new = [event for event_id, event in unique.items() if event_id not in present]
    target.write_batch(new)
    report.imported += len(new)
    report.skipped += len(identified) - len(new)


def _archive(path: Path) -> Path:
    folder = path.parent / ARCHIVE_DIR
    folder.mkdir(exist_ok=True)
    archived = folder / path.name
    if archived.exists():  # a file of the same name was archived before: keep both
        archived = folder / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
    path.rename(archived)
    return archived
