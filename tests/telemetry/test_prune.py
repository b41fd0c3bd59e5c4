"""manage.py prune_telemetry: files older than TELEMETRY_RETENTION_DAYS go, nothing else."""

import io
import os
import time

import pytest
from django.core.management import CommandError, call_command

from telemetry.backends.csv import CSVBackend
from telemetry.quarantine import Quarantine
from telemetry.spool import Segment
from tests.telemetry.conftest import make_event

DAY = 86400


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_telemetry", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def age(path, days: float) -> None:
    moment = time.time() - days * DAY
    os.utime(path, (moment, moment))


@pytest.fixture
def files(recorded, settings, tmp_path):
    """Old and recent files of every kind the gateway keeps."""
    settings.TELEMETRY = {**settings.TELEMETRY, "RETENTION_DAYS": 30}
    csv = CSVBackend(tmp_path / "csv")
    csv.write_batch([make_event()])
    old_rotated = csv.rotate()
    csv.write_batch([make_event()])
    recent_rotated = csv.rotate()
    csv.write_batch([make_event()])  # the live file
    (csv.directory / "archive").mkdir()
    old_archived = csv.directory / "archive" / "telemetry-20200101T000000000000.csv"
    old_archived.write_text("event_id\r\n")
    dead = Segment.create(tmp_path / "spool")
    dead.close(remove=False)
    quarantine = Quarantine(tmp_path / "quarantine")
    event = make_event()
    quarantine.events([event], {event["event_id"]: "refused"}, store="csv")
    (old_quarantine,) = quarantine.files()
    for path in (old_rotated, old_archived, dead.path, old_quarantine, csv.path):
        age(path, 40)  # the live file too: it is never pruned, however old
    age(recent_rotated, 10)
    return {
        "old": sorted(map(str, [old_rotated, old_archived, dead.path, old_quarantine])),
        "kept": [recent_rotated, csv.path],
    }


def listed(output: str) -> list[str]:
    return sorted(line.split()[-1] for line in output.splitlines()[:-1])


def test_a_dry_run_lists_what_is_older_than_the_retention_and_deletes_nothing(files):
    output = prune("--dry-run")
    assert listed(output) == files["old"]
    assert output.splitlines()[-1] == "Would delete 4 file(s) older than 30 days."
    assert all(os.path.exists(path) for path in files["old"])


def test_prune_deletes_only_what_is_older_than_the_retention(files):
    output = prune()
    assert listed(output) == files["old"]
    assert not any(os.path.exists(path) for path in files["old"])
    assert all(path.exists() for path in files["kept"])


def test_days_can_be_given_on_the_command_line(files):
    assert prune("--days", "5", "--dry-run").splitlines()[-1].startswith("Would delete 5 file(s)")


def test_without_a_retention_it_keeps_everything_and_says_how_to_prune(recorded, settings):
    settings.TELEMETRY = {**settings.TELEMETRY, "RETENTION_DAYS": None}
    with pytest.raises(CommandError, match="TELEMETRY_RETENTION_DAYS is not set"):
        prune()
