import json

from django.core.management.base import BaseCommand, CommandError

from telemetry.errors import StoreUnavailable
from telemetry.export import encode
from telemetry.management.options import (
    add_filter_arguments,
    add_source_arguments,
    backend_from,
    filters_from,
    unavailable,
)
from telemetry.query import GROUP_FIELDS, parse_group_by
from telemetry.selectors import usage_report
from telemetry.usage import row_columns


class Command(BaseCommand):
    help = (
        "Usage per group: requests, errors, prompt/completion/total tokens, cost (USD), "
        "p50/p95 latency. "
        f"Group by any of {', '.join(GROUP_FIELDS)}, comma-separated (none: one total row)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--group-by",
            default="",
            help=f"comma-separated, any of {', '.join(GROUP_FIELDS)} (e.g. soeid, or "
            "project,model); none gives one total row",
        )
        parser.add_argument(
            "--format",
            choices=["table", "json", "csv"],
            default="table",
            help="aligned table (default), JSON as the usage API answers, or CSV",
        )
        add_filter_arguments(parser)
        add_source_arguments(parser)

    def handle(self, *args, group_by, format, **options):
        try:
            group_by = parse_group_by(group_by)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        filters, backend = filters_from(options), backend_from(options)
        try:
            report = usage_report(backend=backend, group_by=group_by, filters=filters)
        except StoreUnavailable as exc:
            raise unavailable(exc) from exc
        columns = row_columns(group_by)
        if format == "json":
            self.stdout.write(json.dumps(report, indent=2))
        elif format == "csv":
            chunks = encode(report["rows"], "csv", columns)
            self.stdout.write(b"".join(data for _, data in chunks).decode(), ending="")
        elif report["rows"]:
            self.stdout.write(format_table(report["rows"], list(columns)))
        else:
            self.stdout.write("No events match.")


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Rows as aligned text columns: names left-aligned, numbers right-aligned."""
    cells = [[_shown(row[name], name) for name in columns] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(columns)]
    numeric = [isinstance(rows[0][name], int | float) or name.endswith("_ms") for name in columns]

    def line(values: list[str]) -> str:
        padded = (
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        )
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def _shown(value, name: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and name.endswith("_ms"):
        return f"{value:,.1f}"
    if isinstance(value, float):  # money: to the nano-dollar, no trailing zeros
        return f"{value:,.9f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return value
