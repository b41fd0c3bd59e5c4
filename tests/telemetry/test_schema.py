import csv
import io

from telemetry import schema
from telemetry.schema import FIELDS, build_event, csv_rows, from_csv_row


def test_an_event_has_every_field_in_the_documented_order():
    event = build_event(endpoint="/x")
    assert tuple(event) == FIELDS
    assert len(event["event_id"]) == 32
    assert event["schema_version"] == schema.SCHEMA_VERSION
    assert event["timestamp"].endswith("Z")
    assert event["extra"] == {}


def test_values_are_coerced_to_the_field_type_and_blanks_become_none():
    event = build_event(status_code="201", latency_ms=3, tokens_estimated="true", model="")
    assert event["status_code"] == 201
    assert event["latency_ms"] == 3.0 and isinstance(event["latency_ms"], float)
    assert event["tokens_estimated"] is True
    assert event["model"] is None


def test_unknown_names_and_unusable_values_are_kept_in_extra():
    event = build_event(status_code="teapot", shoe_size=42, extra={"a": 1})
    assert event["status_code"] is None
    assert event["extra"] == {"a": 1, "shoe_size": 42, "invalid_fields": {"status_code": "teapot"}}


def test_schema_version_cannot_be_overridden():
    assert build_event(schema_version=99)["schema_version"] == schema.SCHEMA_VERSION


def test_csv_round_trip_keeps_every_type():
    event = build_event(
        status_code=200,
        latency_ms=12.5,
        tokens_estimated=False,
        temperature=0.3,
        error='he said "no",\nthen left',
        extra={"nested": {"k": [1, 2]}, "text": "a,b"},
    )
    text = csv_rows([event], header=True)
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(FIELDS)
    assert from_csv_row(header, row) == event


def test_rows_of_an_older_schema_are_read_by_their_own_header():
    header = ["event_id", "timestamp", "status_code", "retired_field"]
    row = ["abc", "2025-01-01T00:00:00.000Z", "404", "x"]
    event = from_csv_row(header, row)
    assert tuple(event) == FIELDS
    assert event["status_code"] == 404 and event["model"] is None


def test_text_is_cut_to_its_fields_limit_and_the_event_says_so():
    event = build_event(endpoint="/" + "p" * 5000, method="X" * 40, model="m" * 300)
    assert (len(event["endpoint"]), len(event["method"]), len(event["model"])) == (2048, 16, 256)
    assert event["extra"]["truncated"] == {"endpoint": 5001, "method": 40, "model": 300}


def test_integers_beyond_64_bits_are_kept_aside_not_stored():
    event = build_event(request_size=2**63, max_tokens=-(2**63) - 1, response_size=2**63 - 1)
    assert (event["request_size"], event["max_tokens"]) == (None, None)
    assert event["response_size"] == 2**63 - 1
    assert event["extra"]["invalid_fields"] == {
        "request_size": str(2**63),
        "max_tokens": str(-(2**63) - 1),
    }
