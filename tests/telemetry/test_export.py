"""manage.py export_telemetry and telemetry.export: formats, filters, safety, streaming."""

import csv
import io
import json
import os
import pty
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from dgen_ping_site.clock import iso_utc
from telemetry.backends.csv import CSVBackend, read_cells
from telemetry.export import _csv_chunks as csv_chunks
from telemetry.export import encode, export_chunks, neutralise, write_chunks
from telemetry.management.progress import Progress
from telemetry.query import EventFilter
from telemetry.schema import FIELD_TYPES, from_csv_row
from tests.telemetry.conftest import at, make_event, use_store

ROOT = Path(__file__).resolve().parents[2]


def export(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_telemetry", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def parse(fmt: str, text: str) -> list[dict]:
    if fmt == "ndjson":
        return [json.loads(line) for line in text.splitlines()]
    if fmt == "json":
        return json.loads(text)
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    return [from_csv_row(header, row) for row in rows]


def varied_events() -> list[dict]:
    """Every type, quoting trouble, non-ASCII text: what a round trip must survive."""
    return [
        make_event(timestamp=at(1), soeid="alice", model="gemini", latency_ms=12.5,
                   tokens_estimated=True, temperature=0.3, prompt_tokens=7,
                   error='he said "no",\nthen left', user_agent="naïve 日本",
                   extra={"nested": {"k": [1, 2.5, None]}, "text": "a,b"}),
        make_event(timestamp=at(2), soeid="bob", tokens_estimated=False, status_code=502),
        make_event(timestamp=at(3)),
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_each_format_round_trips_the_stored_events(report_store, fmt):
    events = varied_events()
    report_store.write_batch(events)
    stored = list(report_store.iter_events())
    text, _ = export("--format", fmt)
    assert parse(fmt, text) == stored == events
    assert [e["timestamp"] for e in stored] == [at(1), at(2), at(3)]  # oldest first


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_an_empty_export_is_still_a_valid_file(report_store, fmt):
    text, err = export("--format", fmt)
    assert parse(fmt, text) == []
    assert "Exported 0 events" in err


def test_filters_are_exact_at_the_millisecond_boundaries(report_store):
    moments = ["12:00:00.000", "12:00:00.001", "12:59:59.999", "13:00:00.000"]
    report_store.write_batch(
        [make_event(timestamp=f"2025-01-01T{m}Z", soeid="alice") for m in moments]
    )
    # since is inclusive, until exclusive.
    text, _ = export(
        "--format", "ndjson", "--since", "2025-01-01T12:00:00.001Z", "--until", "2025-01-01T13:00Z"
    )
    assert [e["timestamp"][11:23] for e in parse("ndjson", text)] == moments[1:3]


def test_a_date_means_its_midnight_and_an_age_counts_back_from_now(report_store):
    now = datetime.now(UTC)
    report_store.write_batch(
        [make_event(timestamp=iso_utc(now - timedelta(days=d)), soeid=f"d{d}") for d in (8, 6)]
        + [make_event(timestamp="2025-01-02T00:00:00.000Z", soeid="midnight")]
    )
    recent, _ = export("--format", "ndjson", "--since", "7d")
    assert [e["soeid"] for e in parse("ndjson", recent)] == ["d6"]
    day, _ = export("--format", "ndjson", "--since", "2025-01-02", "--until", "2025-01-03")
    assert [e["soeid"] for e in parse("ndjson", day)] == ["midnight"]


def test_field_filters_combine(report_store, reported):
    text, _ = export(
        "--format", "ndjson", "--soeid", "alice", "--project", "p1", "--model", "gemini"
    )
    assert [e["event_id"] for e in parse("ndjson", text)] == [
        reported[0]["event_id"],
        reported[1]["event_id"],
    ]
    text, _ = export("--format", "ndjson", "--event-type", "custom_event")
    assert [e["soeid"] for e in parse("ndjson", text)] == ["carol"]


FORMULAS = {
    "user_agent": '=HYPERLINK("http://evil","x")',
    "project_name": "+cmd|' /C calc'!A0",
    "error": "-2+3",
    "model": "@SUM(A1:A9)",
    "endpoint": "\t=1+1",
    "request_id": "\r=1+1",
}


def test_csv_export_neutralises_formula_cells(report_store):
    report_store.write_batch([make_event(**FORMULAS, latency_ms=-1.0)])
    text, _ = export("--format", "csv")
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    cells = dict(zip(header, row, strict=True))
    for name, value in FORMULAS.items():
        assert cells[name] == "'" + value
    assert cells["latency_ms"] == "-1.0"  # a number is written as a number, never a formula


def test_json_exports_and_the_store_keep_the_values_as_sent(report_store):
    report_store.write_batch([make_event(**FORMULAS)])
    (stored,) = report_store.iter_events()
    text, _ = export("--format", "json")
    (exported,) = json.loads(text)
    assert {name: stored[name] for name in FORMULAS} == FORMULAS
    assert {name: exported[name] for name in FORMULAS} == FORMULAS


def test_csv_exports_are_the_same_whichever_store_they_come_from(settings, tmp_path, flaky_mongo):
    # The CSV store's cells are copied; Mongo's events are encoded: the result must not differ.
    events = [*varied_events(), make_event(**FORMULAS, extra={"é": 1.5})]
    exported = []
    for kind in ("csv", "mongo"):
        use_store(settings, tmp_path / kind, kind).write_batch(events)
        exported.append(export("--format", "csv")[0])
    assert exported[0] == exported[1]
    assert len(parse("csv", exported[0])) == 4


@pytest.mark.parametrize("text, safe", [("=1", "'=1"), ("ok=1", "ok=1"), ("", ""), ("'=", "'=")])
def test_neutralise(text, safe):
    assert neutralise(text) == safe


def test_output_file_appears_only_when_complete(report_store, reported, tmp_path):
    target = tmp_path / "out.ndjson"
    out, err = export("--format", "ndjson", "--output", str(target))
    assert len(parse("ndjson", target.read_text())) == 6
    assert not (tmp_path / "out.ndjson.partial").exists()
    # With the data in a file, the summary is ordinary output: stdout, not stderr.
    assert out.startswith("Exported 6 events, ") and "bytes in" in out and err == ""


def test_the_summary_counts_what_was_written(report_store, reported, tmp_path):
    target = tmp_path / "out.csv"
    out, _ = export("--output", str(target))
    assert f"Exported 6 events, {target.stat().st_size} bytes" in out


def test_an_existing_directory_as_output_is_a_clear_error_leaving_nothing(report_store, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(CommandError, match="is a directory: name a file"):
        export("--output", str(folder))
    assert list(tmp_path.glob("*.partial")) == [] and list(folder.iterdir()) == []


def test_the_summary_beside_data_on_stdout_is_not_styled_as_an_error(tmp_path):
    CSVBackend(tmp_path).write_batch([make_event() for _ in range(6)])
    command = [sys.executable, "manage.py", "export_telemetry", "--csv-dir", str(tmp_path)]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    controller, terminal = pty.openpty()
    try:
        subprocess.run(command, cwd=ROOT, env=env, stderr=terminal, stdout=subprocess.DEVNULL,
                       timeout=60, check=True)  # fmt: skip
        shown = os.read(controller, 65536).decode()
    finally:
        os.close(controller)
        os.close(terminal)
    assert "Exported 6 events" in shown and "\x1b[31" not in shown  # not red


def test_the_fallback_and_any_csv_directory_can_be_read_explicitly(
    report_store, settings, tmp_path
):
    fallback = CSVBackend(settings.TELEMETRY["STORES"]["fallback"]["OPTIONS"]["directory"])
    fallback.write_batch([make_event(soeid="in-fallback")])
    other = CSVBackend(tmp_path / "elsewhere")
    other.write_batch([make_event(soeid="elsewhere")])
    text, _ = export("--format", "ndjson", "--source", "fallback")
    assert [e["soeid"] for e in parse("ndjson", text)] == ["in-fallback"]
    text, _ = export("--format", "ndjson", "--csv-dir", str(other.directory))
    assert [e["soeid"] for e in parse("ndjson", text)] == ["elsewhere"]


def test_a_missing_output_directory_is_a_clear_error(report_store, tmp_path):
    with pytest.raises(CommandError, match="no such directory"):
        export("--output", str(tmp_path / "nope" / "x.csv"))


def test_without_a_terminal_stderr_has_only_the_summary(report_store, reported):
    _, err = export("--format", "ndjson")
    assert "\r" not in err and err.count("\n") == 1


def test_json_is_streamed_chunk_by_chunk(monkeypatch):
    monkeypatch.setattr("telemetry.export.CHUNK_RECORDS", 2)
    events = varied_events()
    chunks = list(encode(events, "json"))
    assert [count for count, _ in chunks] == [2, 1, 0]
    assert json.loads(b"".join(data for _, data in chunks)) == events


def test_export_reads_lazily_and_reports_progress_per_chunk(monkeypatch):
    monkeypatch.setattr("telemetry.export.CHUNK_RECORDS", 10)
    produced = []

    def events():
        for i in range(35):
            produced.append(i)
            yield make_event()

    seen = []
    progress = lambda count, size: seen.append((count, len(produced)))  # noqa: E731
    summary = write_chunks(encode(events(), "ndjson"), io.BytesIO(), progress)
    # Each chunk is written before the next event is even read.
    assert seen == [(10, 10), (20, 20), (30, 30), (35, 35)]
    assert summary.events == 35


class FakeTerminal(io.StringIO):
    def write(self, text, ending="", style_func=None):
        return super().write(text)


def test_progress_shows_a_bar_when_the_total_is_known():
    screen = FakeTerminal()
    progress = Progress(screen, total=200, interval=0)
    progress(50, 2_000_000)
    progress.close()
    first = screen.getvalue().split("\r")[1]
    assert first.startswith("[" + "#" * 8 + "-" * 22 + "]  25%  50/200 events  2.0 MB")
    assert screen.getvalue().endswith("\n")


def test_progress_counts_when_the_total_is_unknown():
    screen = FakeTerminal()
    Progress(screen, total=None).close()
    assert screen.getvalue().startswith("\r0 events  0.0 MB") and "%" not in screen.getvalue()


def test_a_terminal_gets_a_progress_line_and_a_pipe_does_not(tmp_path):
    CSVBackend(tmp_path).write_batch([make_event() for _ in range(20)])
    command = [sys.executable, "manage.py", "export_telemetry", "--csv-dir", str(tmp_path),
               "--output", str(tmp_path / "out.csv")]  # fmt: skip
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    piped = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60, check=True)
    assert piped.stdout.decode().startswith("Exported 20 events") and piped.stderr == b""

    controller, terminal = pty.openpty()
    try:
        subprocess.run(command, cwd=ROOT, env=env, stderr=terminal, stdout=terminal,
                       timeout=60, check=True)  # fmt: skip
        shown = os.read(controller, 65536).decode()
    finally:
        os.close(controller)
        os.close(terminal)
    assert "\r20 events" in shown and "Exported 20 events" in shown
    assert "\x1b[31" not in shown  # success is never shown in red


CELL_PIECES = ["", "a", ",", '"', "\r", "\n", "\r\n", " ", "=1+2", "-3", "@x", "\t", "é", "x,y"]


def test_csv_rows_are_what_the_csv_module_writes_whatever_the_cells_hold():
    """The fast path (cells joined by commas) and csv.writer agree on every row."""
    rng = random.Random(15)
    columns = {f"c{i}": str for i in range(6)}
    rows = [
        ["".join(rng.choices(CELL_PIECES, k=rng.randint(0, 3))) for _ in columns]
        for _ in range(3000)
    ]
    rows += [[""] * 6, ["plain"] * 6]
    expected = io.StringIO()
    writer = csv.writer(expected)
    for cells in [list(columns), *rows]:
        writer.writerow([neutralise(cell) for cell in cells])
    encoded = b"".join(
        data
        for _, data in encode(
            ({name: cell for name, cell in zip(columns, cells, strict=True)} for cells in rows),
            "csv",
            columns,
        )
    )
    assert encoded.decode() == expected.getvalue()


def test_stored_lines_copied_out_are_what_the_cell_by_cell_export_writes(tmp_path):
    """The unfiltered CSV export copies plain stored lines as they are: byte for byte what
    reading every row into cells and writing them out gives, whatever the cells hold
    (formulas, quotes, line breaks, negative numbers), in a file of another column order
    and with an unfinished last line too."""
    rng = random.Random(16)
    store = CSVBackend(tmp_path / "csv")
    pieces = [*CELL_PIECES, "plain", "plain", "plain"]
    texts = ("soeid", "model", "error", "user_agent", "endpoint")
    events = [
        make_event(
            timestamp=at(1 + n % 5),
            latency_ms=rng.choice([12.5, -1.0, 0.0]),
            prompt_tokens=rng.choice([None, 3, -4]),
            **{name: "".join(rng.choices(pieces, k=rng.randint(1, 3))) for name in texts},
        )
        for n in range(2000)
    ]
    store.write_batch(events)
    header, *rows = list(csv.reader(store.path.open(newline="")))
    with (store.directory / "telemetry-0-other-order.csv").open("w", newline="") as other:
        csv.writer(other).writerows([header[::-1], *(row[::-1] for row in rows[:50])])
    with store.path.open("a", newline="") as current:
        current.write(",".join(rows[0])[:-5])  # a row still being written: no line end

    def joined(chunks) -> bytes:
        return b"".join(data for _, data in chunks)

    copied = joined(export_chunks(backend=store, filters=EventFilter(), fmt="csv"))
    cell_by_cell = (cells for path in store.files() for cells in read_cells(path))
    assert copied == joined(csv_chunks(cell_by_cell, FIELD_TYPES))
    assert len(parse("csv", copied.decode())) == 2050


@pytest.mark.parametrize(
    "line, written",
    [
        ("a,b,\r\n", "a,b,\r\n"),
        ("=1,b,c\r\n", "'=1,b,c\r\n"),
        ("a,@b,c\r\n", "a,'@b,c\r\n"),
        ("a,b,-1\r\n", "a,b,-1\r\n"),  # a number, not text: left as it is
    ],
)
def test_a_stored_line_is_copied_unless_a_text_cell_starts_like_a_formula(line, written):
    columns = {"first": str, "second": str, "number": int}
    (_, header), (_, data) = csv_chunks([line], columns)
    assert (header, data) == (b"first,second,number\r\n", written.encode())


def test_whole_stored_lines_come_as_lines_and_the_others_as_cells(tmp_path):
    store = CSVBackend(tmp_path / "csv")
    store.write_batch(
        [
            make_event(soeid="plain"),
            make_event(soeid="quoted", extra={"a": [1, 2]}, error='he said "no", twice'),
            make_event(soeid="two-lines", error="line\nbreak"),
            make_event(soeid="last", reasoning_tokens=12),
        ]
    )
    text = store.path.read_bytes()
    assert text.endswith(b",12\r\n")
    store.path.write_bytes(text[: -len(b"2\r\n")])  # still being written: "...,1"
    rows = list(store.iter_cells())
    assert [type(row) for row in rows] == [str, str, list, list]
    assert rows[0].encode() == text.splitlines(keepends=True)[1]
    assert rows[3][-1] == "1"  # read_cells gives the unfinished row too, as it always did
