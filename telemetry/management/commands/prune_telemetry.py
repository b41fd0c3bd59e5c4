from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telemetry.retention import prune


class Command(BaseCommand):
    help = (
        "Delete telemetry files older than TELEMETRY_RETENTION_DAYS: rotated and archived CSV "
        "files, what dead processes left in the spool, quarantine files. (MongoDB expires "
        "its events itself, by a TTL index.) Never touches the live CSV file or a live "
        "process's spool."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=float,
            help="keep this many days instead of TELEMETRY_RETENTION_DAYS",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
        )

    def handle(self, *args, days, dry_run, **options):
        days = days if days is not None else settings.TELEMETRY["RETENTION_DAYS"]
        if days is None:
            raise CommandError(
                "TELEMETRY_RETENTION_DAYS is not set (telemetry is kept forever): set it, "
                "or pass --days."
            )
        if days <= 0:
            raise CommandError("The retention must be more than 0 days.")
        paths = prune(days=days, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        for path in paths:
            self.stdout.write(f"{verb} {path}")
        self.stdout.write(f"{verb} {len(paths)} file(s) older than {days:g} days.")
