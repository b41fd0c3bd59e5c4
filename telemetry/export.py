"""Telemetry written out for people and programs: CSV, JSON or NDJSON, streamed.

Records are encoded a chunk at a time and written as they come, so memory stays flat
however many there are; JSON is one array written incrementally. Exported CSV is meant for
spreadsheets, so text cells a spreadsheet would run as a formula are neutralised as OWASP
advises; the store's own CSV files are not, because they must read back unchanged.
"""

import csv
import io
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

import orjson

from telemetry.schema import FIELD_TYPES

FORMATS = ("csv", "json", "ndjson")
CHUNK_RECORDS = 1000
# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS


@dataclass(frozen=True)
class ExportSummary:
    events: int
    bytes: int
    seconds: float

    def __str__(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0
        return (
            f"Exported {self.events} events, {self.bytes} bytes in {self.seconds:.2f} s "
            f"({rate:,.0f} events/s)."
        )


def export_events(
    events: Iterable[dict],
    *,
    fmt: str,
    out: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write events to `out` in `fmt`; `progress(events, bytes)` is called after each chunk."""
    started = time.monotonic()
    count = size = 0
    for records, data in encode(events, fmt):
        out.write(data)
        count += records
        size += len(data)
        if progress is not None:
            progress(count, size)
    out.flush()
    return ExportSummary(count, size, time.monotonic() - started)


def encode(
    records: Iterable[dict], fmt: str, columns: Mapping[str, type] = FIELD_TYPES
) -> Iterator[tuple[int, bytes]]:
    """The whole file as (number of records, bytes) chunks. `columns`: name -> type."""
    encoders = {"csv": _csv_chunks, "json": _json_chunks, "ndjson": _ndjson_chunks}
    if fmt not in encoders:
        raise ValueError(f"Unknown format {fmt!r}; choose from {FORMATS}.")
    return encoders[fmt](records, columns)


def neutralise(text: str) -> str:
    """A text cell that a spreadsheet shows as text, never runs: quote-prefixed if needed."""
    return "'" + text if text[:1] in FORMULA_TRIGGERS else text


def _chunked(pieces: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Encoded records joined CHUNK_RECORDS at a time.

    Records are encoded one by one and only bytes are held: keeping a chunk of records
    alive instead would make the garbage collector scan them over and over.
    """
    pieces = iter(pieces)
    while chunk := list(islice(pieces, CHUNK_RECORDS)):
        yield len(chunk), b"".join(chunk)


def _dumps(record: dict) -> bytes:
    # str() for what JSON has no type for (e.g. a date inside a Mongo document's extra).
    return orjson.dumps(record, default=str, option=_DUMPS_OPTIONS)


def _dumps_sorted(value) -> bytes:
    # As the store writes a dict cell (sorted keys, no spaces), but faster.
    return orjson.dumps(value, default=str, option=_DUMPS_OPTIONS | orjson.OPT_SORT_KEYS)


def _ndjson_chunks(records: Iterable[dict], columns) -> Iterator[tuple[int, bytes]]:
    return _chunked(_dumps(record) + b"\n" for record in records)


def _json_chunks(records: Iterable[dict], columns) -> Iterator[tuple[int, bytes]]:
    empty = True
    for count, data in _chunked(b",\n" + _dumps(record) for record in records):
        yield count, (b"[\n" + data[2:]) if empty else data
        empty = False
    yield 0, b"[]\n" if empty else b"\n]\n"


def _csv_chunks(
    records: Iterable[dict], columns: Mapping[str, type]
) -> Iterator[tuple[int, bytes]]:
    to_row = _row_maker(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    yield 0, _drain(buffer)
    count = 0
    for record in records:
        writer.writerow(to_row(record))
        count += 1
        if count == CHUNK_RECORDS:
            yield count, _drain(buffer)
            count = 0
    if count:
        yield count, _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


def _row_maker(columns: Mapping[str, type]) -> Callable[[dict], list]:
    """record -> CSV cells: text neutralised, bools and dicts as the store writes them.

    Numbers and None are left to the csv module (str() and ''): this is the inner loop.
    """
    names = list(columns)
    values = operator.itemgetter(*names) if len(names) > 1 else lambda r: (r[names[0]],)
    texts = [i for i, kind in enumerate(columns.values()) if kind is str]
    flags = [i for i, kind in enumerate(columns.values()) if kind is bool]
    objects = [i for i, kind in enumerate(columns.values()) if kind is dict]

    def to_row(record: dict) -> list:
        row = list(values(record))
        for i in texts:
            text = row[i]
            if text and text[0] in FORMULA_TRIGGERS:
                row[i] = "'" + text
        for i in flags:
            if row[i] is not None:
                row[i] = "true" if row[i] else "false"
        for i in objects:
            row[i] = _dumps_sorted(row[i]).decode() if row[i] is not None else None
        return row

    return to_row
