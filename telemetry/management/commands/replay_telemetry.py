from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from telemetry.backends.base import PartialWrite
from telemetry.redact import describe_error
from telemetry.replay import (
    DEFAULT_BATCH_SIZE,
    FileReplay,
    ReplayError,
    files_to_replay,
    replay_file,
    replay_target,
)

TOTALS = ("imported", "skipped", "quarantined", "failed")


class Command(BaseCommand):
    help = (
        "Import CSV telemetry files (by default the CSV fallback's) into a store exactly "
        "once, by event id: safe to interrupt and run again. Each file whose rows are all "
        "stored (or quarantined) is moved to archive/ beside it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="*", type=Path, help="CSV files (default: every file of --csv-dir)"
        )
        parser.add_argument(
            "--csv-dir", type=Path, help="directory of CSV files (default: CSV_FALLBACK_DIR)"
        )
        target = parser.add_mutually_exclusive_group()
        target.add_argument(
            "--to",
            help="the store to import into, by its name in TELEMETRY['STORES'] "
            "(default: the first of the chain, e.g. primary)",
        )
        target.add_argument(
            "--mongo-uri", help="import into the MongoDB at this URI (with the MONGO_* options)"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"events per write (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument("--no-archive", action="store_true", help="leave files in place")

    def handle(self, *args, files, csv_dir, to, mongo_uri, batch_size, no_archive, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            target = replay_target(alias=to, mongo_uri=mongo_uri)
            paths = files_to_replay(files=files, directory=csv_dir, target=target)
        except (ReplayError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        totals = dict.fromkeys(TOTALS, 0)
        for path in paths:
            report = self._replay(path, target, batch_size, archive=not no_archive)
            self.stdout.write(_describe(report))
            for name in totals:
                totals[name] += getattr(report, name)
        self.stdout.write(_totals(totals, len(paths)))
        if totals["quarantined"]:
            self.stderr.write(
                f"{totals['quarantined']} events were refused by the store and set aside in "
                "the quarantine (see the log for the file).",
                style_func=self.style.WARNING,
            )
        if totals["failed"]:
            raise CommandError(f"{totals['failed']} rows could not be imported; files kept.")

    def _replay(self, path: Path, target, batch_size: int, archive: bool) -> FileReplay:
        try:
            return replay_file(path, target=target, batch_size=batch_size, archive=archive)
        except Exception as exc:
            if not isinstance(exc, PartialWrite | OSError) and not _is_store_error(exc):
                raise
            raise CommandError(
                f"The store failed while importing {path}: {describe_error(exc)}. Run the "
                "command again to carry on: events already imported are skipped."
            ) from None


def _is_store_error(exc: Exception) -> bool:
    from pymongo.errors import PyMongoError  # only once a store failed

    return isinstance(exc, PyMongoError)


def _describe(report: FileReplay) -> str:
    line = (
        f"{report.path.name}: {report.imported} imported, {report.skipped} skipped "
        f"(already stored), {report.quarantined} quarantined, {report.failed} failed"
    )
    if report.archived_to:
        line += f"; archived to {report.archived_to}"
    return line


def _totals(totals: dict, files: int) -> str:
    counts = ", ".join(f"{totals[name]} {name}" for name in TOTALS)
    return f"{files} file(s): {counts}."
