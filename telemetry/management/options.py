"""Command-line options shared by the reporting commands: filters and where to read."""

import argparse
from pathlib import Path

from django.core.management.base import CommandError

from telemetry.backends.base import TelemetryBackend
from telemetry.errors import StoreUnavailable
from telemetry.query import EventFilter, parse_moment
from telemetry.redact import describe_error
from telemetry.selectors import reporting_backend

TIME_HELP = "ISO date or datetime (UTC unless an offset is given), or an age: 7d, 12h, 30m"


def moment_argument(text: str):
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_filter_arguments(parser) -> None:
    parser.add_argument(
        "--since", type=moment_argument, help=f"events at or after this time: {TIME_HELP}"
    )
    parser.add_argument("--until", type=moment_argument, help="events before this time (exclusive)")
    parser.add_argument("--soeid", help="only this person's events (exact SOEID)")
    parser.add_argument("--project", help="only this project's events (exact project name)")
    parser.add_argument("--model", help="only events for this model (as clients name it)")
    parser.add_argument("--event-type", help="only this event type, e.g. llm_completion")


def add_source_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--source",
        default="default",
        help="the store to read: a store of TELEMETRY['STORES'] (e.g. primary, backup, csv), "
        "'default' (the first of the chain, the store of record) or 'fallback' (the last)",
    )
    source.add_argument("--csv-dir", type=Path, help="read the CSV files in this directory")


def filters_from(options: dict) -> EventFilter:
    since, until = options["since"], options["until"]
    if since and until and since >= until:
        raise CommandError("--until must be later than --since.")
    return EventFilter(
        since=since,
        until=until,
        soeid=options["soeid"],
        project=options["project"],
        model=options["model"],
        event_type=options["event_type"],
    )


def backend_from(options: dict) -> TelemetryBackend:
    csv_dir = options["csv_dir"]
    if csv_dir is not None and not csv_dir.is_dir():
        raise CommandError(f"--csv-dir {csv_dir}: no such directory.")
    try:
        return reporting_backend(source=options["source"], csv_dir=csv_dir)
    except StoreUnavailable as exc:
        raise unavailable(exc) from exc


def unavailable(exc: StoreUnavailable) -> CommandError:
    """The command's message for an unreadable store, with the reason (no credentials)."""
    return CommandError(f"{exc.detail} ({describe_error(exc.__cause__)})")
