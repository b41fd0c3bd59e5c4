"""What the accounts commands share: naming the operator and showing rows."""

import getpass
import json

from telemetry.management.commands.telemetry_stats import format_table


def operator() -> str:
    """The operating-system user running a command, as the registry's `issued_by` names it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def rows_text(rows: list[dict], columns: list[str], format: str, none: str) -> str:
    """Rows as JSON, or as an aligned table of `columns`; `none` when there are none."""
    if format == "json":
        return json.dumps(rows, indent=2)
    return format_table(rows, columns) if rows else none
