"""Telemetry written out for people and programs: CSV, JSON or NDJSON, streamed.

Records are encoded one by one and written a chunk at a time, so memory stays flat however
many there are; JSON is one array written incrementally. Exported CSV is meant for
spreadsheets, so text cells a spreadsheet would run as a formula are neutralised as OWASP
advises; the store's own CSV files are not, because they must read back unchanged.
"""

import csv
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

import orjson

from telemetry.backends.base import TelemetryBackend
from telemetry.query import EventFilter
from telemetry.schema import FIELD_TYPES, csv_cell
from telemetry.selectors import read_cells, read_events

FORMATS = ("csv", "json", "ndjson")
CHUNK_RECORDS = 1000
# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")


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
    *,
    backend: TelemetryBackend,
    filters: EventFilter,
    fmt: str,
    out: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write the matching events to `out`, oldest first; `progress(events, bytes)` per chunk."""
    return write_chunks(export_chunks(backend=backend, filters=filters, fmt=fmt), out, progress)


def export_chunks(
    *, backend: TelemetryBackend, filters: EventFilter, fmt: str
) -> Iterator[tuple[int, bytes]]:
    """The export file of the matching events, oldest first, as (events, bytes) chunks: what
    export_telemetry writes and the dashboard's download streams."""
    if fmt == "csv":
        # The store gives its cells (a CSV store: as stored, several times faster than
        # decoding every event and encoding it again); text is neutralised on the way out.
        return _csv_chunks(read_cells(backend=backend, filters=filters), FIELD_TYPES)
    return encode(read_events(backend=backend, filters=filters), fmt)


def write_chunks(
    chunks: Iterable[tuple[int, bytes]],
    out: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write encoded chunks as they come, counting records and bytes."""
    started = time.monotonic()
    count = size = 0
    for records, data in chunks:
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
    """A file of records as (records in it, bytes) chunks. `columns`: name -> type (CSV)."""
    if fmt == "csv":
        return _csv_chunks(map(_cell_maker(columns), records), columns)
    if fmt == "ndjson":
        return _chunked(_dumps(record) + b"\n" for record in records)
    if fmt == "json":
        return _json_chunks(records)
    raise ValueError(f"Unknown format {fmt!r}; choose from {FORMATS}.")


def neutralise(text: str) -> str:
    """A text cell that a spreadsheet shows as text, never runs: quote-prefixed if needed."""
    return "'" + text if text[:1] in FORMULA_TRIGGERS else text


def _chunked(pieces: Iterable, text: bool = False) -> Iterator[tuple[int, bytes]]:
    """Encoded records joined CHUNK_RECORDS at a time.

    Records are encoded one by one and only their text is held: keeping a chunk of
    records alive instead would make the garbage collector scan them over and over.
    """
    pieces = iter(pieces)
    while chunk := list(islice(pieces, CHUNK_RECORDS)):
        yield len(chunk), "".join(chunk).encode() if text else b"".join(chunk)


def _dumps(record: dict) -> bytes:
    # str() for what JSON has no type for (e.g. a date inside a Mongo document's extra).
    return orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS)


def _json_chunks(records: Iterable[dict]) -> Iterator[tuple[int, bytes]]:
    empty = True
    for count, data in _chunked(b",\n" + _dumps(record) for record in records):
        yield count, (b"[\n" + data[2:]) if empty else data
        empty = False
    yield 0, b"[]\n" if empty else b"\n]\n"


def _csv_chunks(
    rows: Iterable[list[str] | str], columns: Mapping[str, type]
) -> Iterator[tuple[int, bytes]]:
    """CSV of rows of cell text in `columns` order, text cells neutralised. A row may come
    as its CSV line already (TelemetryBackend.iter_cells): copied as it is unless a cell
    in it starts like a formula."""
    texts = [i for i, kind in enumerate(columns.values()) if kind is str]
    line = _LastLine()
    writer = csv.writer(line)
    separators = len(columns) - 1

    def to_line(cells: list[str] | str) -> str:
        if type(cells) is str:
            # Every cell of a stored line starts the line or follows a comma, its text
            # after an opening quote if quoted (searched short of the CRLF, which would
            # look like an empty last cell's CR). A comma inside a cell may raise a false
            # alarm, which costs only the cells' way below.
            end = len(cells) - 2
            if not _FORMULA_AT_LINE_START.match(cells) and not _FORMULA_AFTER_COMMA.search(
                cells, 0, end
            ):
                return cells
            (cells,) = csv.reader([cells])
        # One scan of the joined row tells whether any cell needs a look (most do not).
        if _FORMULA_AT_CELL_START.search("," + ",".join(cells)):
            for i in texts:
                cells[i] = neutralise(cells[i])
        # A row with no comma, quote or line break in a cell is its cells joined by commas,
        # as csv.writer writes it; the others go through csv.writer (quoted).
        probe = "\n".join(cells)
        if probe and probe.count("\n") == separators and not _QUOTED.search(probe):
            return probe.replace("\n", ",") + "\r\n"
        writer.writerow(cells)
        return line.text

    yield 0, to_line(list(columns)).encode()
    yield from _chunked(map(to_line, rows), text=True)


class _LastLine:
    """Where the csv writer puts each line, so it can be written in chunks."""

    __slots__ = ("text",)

    def write(self, text: str) -> None:
        self.text = text


# A cell starts after a comma, searched in "," + the row joined by commas (a comma inside a
# cell may raise a false alarm, which costs only the exact check). A literal first character
# lets the regex engine skip ahead: six times faster than `(?:^|,)`, tried at every position.
_FORMULA_AT_CELL_START = re.compile(r",[=+\-@\t\r]")
_FORMULA_AT_LINE_START = re.compile(r'"?[=+\-@\t\r]')
_FORMULA_AFTER_COMMA = re.compile(r',"?[=+\-@\t\r]')
_QUOTED = re.compile(r'[,"\r]')  # what makes csv.writer quote a cell (and a line break)


def _plain(value) -> str:
    return "" if value is None else str(value)


def _cell_maker(columns: Mapping[str, type]) -> Callable[[dict], list[str]]:
    """record -> its cells, as the CSV store writes them (bools, dicts as JSON, '' for None)."""
    names = list(columns)
    values = operator.itemgetter(*names) if len(names) > 1 else lambda r: (r[names[0]],)
    cell = [csv_cell if kind in (bool, dict) else _plain for kind in columns.values()]
    return lambda record: [to_cell(v) for to_cell, v in zip(cell, values(record), strict=True)]
