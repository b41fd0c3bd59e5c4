"""Deleting telemetry older than TELEMETRY_RETENTION_DAYS from the files the gateway keeps.

MongoDB expires events itself (a TTL index on `timestamp`, telemetry.backends.mongo); what
is left is files: rotated and archived CSV files, what dead processes left in the spool,
and quarantine files. Each store says which of its files are old (`prune`); the spool and
the quarantine are pruned here. A file counts as old when it was last written before the
cut-off, so it holds nothing newer.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

from telemetry import spool
from telemetry.backends import stores
from telemetry.quarantine import Quarantine


def prune(*, days: float, dry_run: bool = False) -> list[Path]:
    """Delete (or, with dry_run, only list) the files older than `days` days."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    paths = []
    for alias in stores.configs():
        paths += stores[alias].prune(cutoff, dry_run=dry_run)
    conf = settings.TELEMETRY
    paths += spool.prune(Path(conf["SPOOL_DIR"]), cutoff.timestamp(), dry_run=dry_run)
    paths += Quarantine(conf["QUARANTINE_DIR"]).prune(cutoff.timestamp(), dry_run=dry_run)
    return paths
