"""manage.py telemetry_stats: hand-computed usage on a fixed data set, on CSV and on Mongo."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.telemetry.conftest import REPORT_MONGO, near, use_store


def stats(*args: str) -> str:
    out = io.StringIO()
    call_command("telemetry_stats", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def rows(*args: str) -> list[dict]:
    return json.loads(stats("--format", "json", *args))["rows"]


def metrics(requests, errors, prompt, completion, total, cost, p50, p95) -> dict:
    return {
        "requests": requests, "errors": errors, "prompt_tokens": prompt,
        "completion_tokens": completion, "total_tokens": total, "cost": cost,
        "p50_latency_ms": near(p50), "p95_latency_ms": near(p95),
    }  # fmt: skip


def test_usage_per_soeid(reported):
    # alice: latencies 100, 200, 300 -> nearest rank p50 = 2nd, p95 = 3rd. bob: 50, 400.
    assert rows("--group-by", "soeid") == [
        {"soeid": "alice", **metrics(3, 1, 16, 27, 43, 0.375, 200.0, 300.0)},
        {"soeid": "bob", **metrics(2, 1, 100, 200, 300, 1.5, 50.0, 400.0)},
        {"soeid": "carol", **metrics(1, 0, 0, 0, 0, 0.0, None, None)},
    ]


def test_usage_per_project_and_model(reported):
    assert rows("--group-by", "project,model") == [
        {"project": "p1", "model": "gemini", **metrics(3, 1, 115, 225, 340, 1.75, 100.0, 300.0)},
        {"project": "p1", "model": "gpt", **metrics(1, 1, 0, 0, 0, 0.0, 400.0, 400.0)},
        {"project": "p2", "model": "gemini", **metrics(1, 0, 0, 0, 0, 0.0, None, None)},
        {"project": "p2", "model": "gpt", **metrics(1, 0, 1, 2, 3, 0.125, 200.0, 200.0)},
    ]


def test_usage_per_day_between_inclusive_since_and_exclusive_until(reported):
    # The 2025-01-03T12:00 event sits exactly on --until: excluded.
    assert rows("--group-by", "day", "--since", "2025-01-02", "--until", "2025-01-03T12:00Z") == [
        {"day": "2025-01-02", **metrics(2, 0, 101, 202, 303, 1.625, 50.0, 200.0)},
        {"day": "2025-01-03", **metrics(1, 1, 0, 0, 0, 0.0, 400.0, 400.0)},
    ]


def test_filters_and_event_type_grouping(reported):
    assert rows("--group-by", "event_type", "--model", "gemini", "--project", "p2") == [
        {"event_type": "custom_event", **metrics(1, 0, 0, 0, 0, 0.0, None, None)},
    ]
    assert rows("--soeid", "bob", "--event-type", "http_request") == [
        metrics(2, 1, 100, 200, 300, 1.5, 50.0, 400.0)
    ]


def test_usage_and_cost_per_token(reported):
    assert [(r["token"], r["requests"], r["cost"]) for r in rows("--group-by", "token")] == [
        (None, 3, 0.0),
        ("jti-a", 2, 0.375),
        ("jti-b", 1, 1.5),
    ]


def test_json_output_names_the_grouping_and_filters(reported):
    report = json.loads(stats("--format", "json", "--group-by", "model", "--since", "2025-01-02"))
    assert report["group_by"] == ["model"]
    assert report["filters"]["since"] == "2025-01-02T00:00:00.000Z"
    assert report["filters"]["soeid"] is None


def test_table_is_aligned_with_numbers_on_the_right(reported):
    lines = stats("--group-by", "soeid").splitlines()
    assert lines[0].split() == [
        "soeid", "requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
        "cost", "p50_latency_ms", "p95_latency_ms",
    ]  # fmt: skip
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split()[:7] == ["alice", "3", "1", "16", "27", "43", "0.375"]
    assert [float(cell) for cell in lines[2].split()[7:]] == [near(200.0), near(300.0)]
    assert lines[4].split() == ["carol", "1", "0", "0", "0", "0", "0", "-", "-"]
    # Every column ends at the same place on every line (numbers right-aligned).
    ends = {line.index("43") + 2 for line in lines[2:3]}
    assert ends == {lines[0].index("total_tokens") + len("total_tokens")}


def test_csv_output_for_machines(reported):
    table = list(csv.DictReader(io.StringIO(stats("--format", "csv", "--group-by", "soeid"))))
    assert [(r["soeid"], r["requests"], r["total_tokens"]) for r in table] == [
        ("alice", "3", "43"),
        ("bob", "2", "300"),
        ("carol", "1", "0"),
    ]
    assert table[2]["p50_latency_ms"] == ""


def test_nothing_matching_says_so(report_store):
    out = io.StringIO()
    call_command("telemetry_stats", stdout=out, stderr=io.StringIO())
    assert "No events match" in out.getvalue()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--group-by", "colour"], "choose from"),
        (["--since", "2025-01-02", "--until", "2025-01-01"], "later than --since"),
        (["--since", "last tuesday"], "is not a time"),
        (["--csv-dir", "/nonexistent/dir"], "no such directory"),
    ],
)
def test_bad_options_are_clear_errors(report_store, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("telemetry_stats", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_an_unreachable_store_is_a_clear_error(settings, tmp_path, flaky_mongo):
    use_store(settings, tmp_path, "mongo")
    flaky_mongo.down(REPORT_MONGO)
    with pytest.raises(CommandError, match="unavailable.*connection refused"):
        call_command("telemetry_stats", stdout=io.StringIO(), stderr=io.StringIO())
