from django.core.management.base import BaseCommand, CommandError

from dgen_ping_site.clock import utcnow
from telemetry import rollups
from telemetry.errors import StoreUnavailable
from telemetry.management.options import (
    add_source_arguments,
    backend_from,
    moment_argument,
    unavailable,
)
from telemetry.query import EventFilter
from telemetry.selectors import verify_rollups
from telemetry.services import rebuild_rollups

SHOWN = 20  # differences listed; the rest are counted


class Command(BaseCommand):
    help = (
        "Check a store's rollups (the per-day usage totals reports read) against a recount "
        "of its events, or count them all again. Reports, the usage API and the dashboard "
        "read rollups for whole UTC days."
    )

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument(
            "--verify", action="store_true", help="recount the events, compare, exit 1 if unequal"
        )
        action.add_argument(
            "--rebuild", action="store_true", help="count every event again into fresh rollups"
        )
        parser.add_argument("--since", type=moment_argument, help="--verify from this date on")
        parser.add_argument("--until", type=moment_argument, help="--verify up to this date")
        add_source_arguments(parser)

    def handle(self, *args, verify, rebuild, since, until, **options):
        filters = EventFilter(since=since, until=until)
        if rollups.day_range(filters) is None:
            raise CommandError("--since and --until must be dates (midnight UTC): 2025-01-31.")
        backend = backend_from(options)
        if not backend.keeps_rollups:
            raise CommandError(f"{type(backend).__name__} keeps no rollups.")
        try:
            if rebuild:
                rebuild_rollups(backend=backend)
                self.stdout.write("Rollups rebuilt from the stored events.")
                return
            counted, problems = verify_rollups(backend=backend, filters=filters)
        except StoreUnavailable as exc:
            raise unavailable(exc) from exc
        if problems:
            for line in problems[:SHOWN]:
                self.stderr.write(line)
            raise CommandError(
                f"{len(problems)} difference(s) between the rollups and a recount of {counted} "
                "events: run with --rebuild (or see docs/telemetry.md, Rollups)."
            )
        self.stdout.write(f"Rollups agree with a recount of {counted} events.")
        kept = rollups.first_kept_day(backend.retention_days, utcnow())
        if kept is not None:
            self.stdout.write(
                f"Days before {kept.date()} were not compared: the store's retention "
                f"({backend.retention_days:g} days) has begun to expire their events."
            )
