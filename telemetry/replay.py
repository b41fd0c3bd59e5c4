"""Importing CSV files (the fallback's, or any) into a store of the chain, exactly once.

Each batch first asks the target which of its event ids it already holds and writes only
the others; MongoDB also keys documents by event id, so a run that is interrupted, or one
racing another, never stores an event twice: run it again and it carries on. Events the
target refuses for what they hold are set aside in the quarantine, as the writer does. A
file is moved to `archive/` beside it only once every row is stored or quarantined.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from django.conf import settings

from telemetry.backends import load_store, stores
from telemetry.backends.base import EventsRefused, TelemetryBackend
from telemetry.backends.csv import CURRENT, CSVBackend, read_file
from telemetry.quarantine import Quarantine
from telemetry.redact import describe_error

logger = logging.getLogger("telemetry")

ARCHIVE_DIR = "archive"
DEFAULT_BATCH_SIZE = 1000


class ReplayError(Exception):
    """The replay cannot start: no such target, file or directory, or the target is down."""


@dataclass
class FileReplay:
    """What became of one file's rows."""

    path: Path
    imported: int = 0
    skipped: int = 0  # already in the target (or twice in the file)
    quarantined: int = 0  # refused by the target for what they hold
    failed: int = 0  # rows that are not readable events
    archived_to: Path | None = None


def replay_target(*, alias: str | None = None, mongo_uri: str | None = None) -> TelemetryBackend:
    """The store to import into, checked to answer: a store of the chain by alias, a MongoDB
    at `mongo_uri` (with the configured MongoDB options), or the chain's first store.

    Raises ImproperlyConfigured for a wrong alias or URI, ReplayError when it does not
    answer: either way before any file is touched.
    """
    if mongo_uri:
        options = {**settings.TELEMETRY_MONGO["OPTIONS"], "uri": mongo_uri}
        target, name = load_store({**settings.TELEMETRY_MONGO, "OPTIONS": options}), "--mongo-uri"
    else:
        name = alias or stores.default_alias()
        target = stores[name]
    health = target.health()
    if not health["ok"]:
        raise ReplayError(
            f"The target store ({name}) does not answer: {describe_error(health['error'])}"
        )
    return target


def files_to_replay(
    *, files: Sequence[Path] = (), directory: Path | None = None, target: TelemetryBackend
) -> list[Path]:
    """The files named, or every data file of `directory` (default: CSV_FALLBACK_DIR).

    A live `telemetry.csv` is rotated first, so no writer appends to a file being imported.
    A store's own files are never imported into it (they would be archived away from it).
    """
    if files:
        missing = [str(path) for path in files if not Path(path).is_file()]
        if missing:
            raise ReplayError(f"No such file: {', '.join(missing)}")
        paths = [Path(path) for path in files]
    else:
        directory = directory or settings.CSV_FALLBACK_DIR
        if not directory.is_dir():
            raise ReplayError(f"No such directory: {directory}")
        paths = CSVBackend(directory).files()
    own = [str(path) for path in paths if target.owns(path)]
    if own:
        raise ReplayError(f"The target store holds these files itself: {', '.join(own)}")
    return [rotated for path in paths if (rotated := _rotated(path)) is not None]


def _rotated(path: Path) -> Path | None:
    """The file to import: a live telemetry.csv is rotated first (None: it was empty)."""
    if path.name != CURRENT:
        return path
    return CSVBackend(path.parent).rotate()


def replay_file(
    path: Path,
    *,
    target: TelemetryBackend,
    quarantine: Quarantine | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    archive: bool = True,
) -> FileReplay:
    """Import one file's events the target does not hold yet; archive it when complete."""
    report = FileReplay(path)
    quarantine = quarantine or Quarantine(settings.TELEMETRY["QUARANTINE_DIR"])

    def bad_row(line: int, reason: str) -> None:
        report.failed += 1
        logger.warning("Cannot replay %s line %d: %s", path, line, reason)

    events = read_file(path, on_bad_row=bad_row)
    while batch := list(islice(events, batch_size)):
        _import(batch, target, quarantine, report)
    if archive and not report.failed:
        report.archived_to = _archive(path)
    return report


def _import(batch: list[dict], target, quarantine: Quarantine, report: FileReplay) -> None:
    identified = [event for event in batch if event["event_id"]]
    report.failed += len(batch) - len(identified)  # without an id it cannot be stored once
    unique = {event["event_id"]: event for event in identified}
    present = target.existing_ids(list(unique))
    new = [event for event_id, event in unique.items() if event_id not in present]
    refused = {}
    try:
        target.write_batch(new)
    except EventsRefused as exc:
        refused = exc.refused
        quarantine.events(new, refused, store=exc.store or "replay target")
    report.quarantined += len(refused)
    report.imported += len(new) - len(refused)
    report.skipped += len(identified) - len(new)


def _archive(path: Path) -> Path:
    folder = path.parent / ARCHIVE_DIR
    folder.mkdir(exist_ok=True)
    archived = folder / path.name
    if archived.exists():  # a file of the same name was archived before: keep both
        archived = folder / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
    path.rename(archived)
    return archived
