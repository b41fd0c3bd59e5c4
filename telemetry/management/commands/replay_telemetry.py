from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from pymongo.errors import PyMongoError

from telemetry.backends.base import PartialWrite
from telemetry.replay import (
    DEFAULT_BATCH_SIZE,
    FileReplay,
    ReplayError,
    files_to_replay,
    mongo_target,
    replay_file,
)
from telemetry.writer import describe_error


class Command(BaseCommand):
    help = (
        "Import CSV fallback files into MongoDB exactly once (by event id): safe to interrupt "
        "and run again. Each fully imported file is moved to archive/ beside it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="*", type=Path, help="CSV files (default: every file of --csv-dir)"
        )
        parser.add_argument("--csv-dir", type=Path, help="default: CSV_FALLBACK_DIR")
        parser.add_argument("--mongo-uri", help="default: the configured MongoDB (MONGO_URI)")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--no-archive", action="store_true", help="leave files in place")

    def handle(self, *args, files, csv_dir, mongo_uri, batch_size, no_archive, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            target = mongo_target(mongo_uri)
            paths = files_to_replay(files=files, directory=csv_dir)
        except (ReplayError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        totals = {"imported": 0, "skipped": 0, "failed": 0}
        for path in paths:
            report = self._replay(path, target, batch_size, archive=not no_archive)
            self.stdout.write(_describe(report))
            for name in totals:
                totals[name] += getattr(report, name)
        self.stdout.write(_totals(totals, len(paths)))
        if totals["failed"]:
            raise CommandError(f"{totals['failed']} rows could not be imported; files kept.")

    def _replay(self, path: Path, target, batch_size: int, archive: bool) -> FileReplay:
        try:
            return replay_file(path, target=target, batch_size=batch_size, archive=archive)
        except (PyMongoError, PartialWrite) as exc:
            raise CommandError(
                f"MongoDB failed while importing {path}: {describe_error(exc)}. Run the "
                "command again to carry on: events already imported are skipped."
            ) from None


def _describe(report: FileReplay) -> str:
    line = (
        f"{report.path.name}: {report.imported} imported, {report.skipped} skipped "
        f"(already in MongoDB), {report.failed} failed"
    )
    if report.archived_to:
        line += f"; archived to {report.archived_to}"
    return line


def _totals(totals: dict, files: int) -> str:
    return (
        f"{files} file(s): {totals['imported']} imported, {totals['skipped']} skipped, "
        f"{totals['failed']} failed."
    )
