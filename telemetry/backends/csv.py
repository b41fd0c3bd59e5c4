"""Events in CSV files: `<directory>/telemetry.csv`, rotated to `telemetry-<stamp>.csv`.

Several worker processes append to the same file. Each batch is one write() made while
holding an exclusive flock, so rows of different processes never interleave or tear, and the
header is written exactly once, by whoever finds the file empty. Rotation (by size, when the
day changes, and when the file's header is not the current schema's) happens under the same
lock: a row is only ever appended under its own header.
"""

import csv
import fcntl
import io
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from telemetry import schema
from telemetry.backends.base import EventsRefused, TelemetryBackend
from telemetry.backends.csv_rollups import FileRollups
from telemetry.query import EventFilter, check_group_by
from telemetry.redact import describe_error
from telemetry.rollups import Rollup
from telemetry.usage import aggregate

logger = logging.getLogger("telemetry")

CURRENT = "telemetry.csv"
ROTATED_GLOB = "telemetry-*.csv"
# Where replay_telemetry moves the files it imported whole.
ARCHIVED_GLOB = "archive/*.csv"
# The first cell of a row: its event id (ids never need quoting).
_ROW_ID = re.compile(rb"^([^,\r\n\"]+),", re.MULTILINE)
_SCAN_CHUNK = 4 * 1024 * 1024
# The csv module refuses to read a cell over 128 KiB by default, and an event can carry
# more (a long upstream error, a large `extra`): a row that was written must read back.
csv.field_size_limit(2**31 - 1)


class CSVBackend(TelemetryBackend):
    fallback_status = "csv_fallback"
    keeps_rollups = True

    def __init__(
        self, directory: str | os.PathLike, max_bytes: int = 100 * 1024 * 1024, daily: bool = True
    ):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.daily = daily
        self._rollups = FileRollups(self.directory, self.files, read_file, _locked_for_reading)

    @property
    def path(self) -> Path:
        return self.directory / CURRENT

    # --- writing --------------------------------------------------------------------------

    def write_batch(self, events: Sequence[dict]) -> None:
        if not events:
            return
        rows, refused = _encoded_rows(events)
        if rows:
            self._append(rows, [event for event in events if event["event_id"] not in refused])
        if refused:
            stored = {event["event_id"] for event in events} - set(refused)
            raise EventsRefused(refused, stored)

    def _append(self, rows: bytes, events: Sequence[dict]) -> None:
        with self._locked_current() as fd:
            stat = os.fstat(fd)
            data = (schema.CSV_HEADER.encode() if stat.st_size == 0 else b"") + rows
            try:
                _write_all(fd, data)
            except OSError:
                # Disk full half-way: take the partial rows back so the batch can be retried.
                os.ftruncate(fd, stat.st_size)
                raise
            end = stat.st_size + len(data)
            try:
                self._rollups.appended(self.path, stat.st_ino, stat.st_size, end, events)
            except Exception as exc:
                # The rows are stored, so the write must not look failed (it would be
                # retried, and stored twice): the next read counts them from the file.
                logger.warning("Telemetry rollups not updated: %s", describe_error(exc))

    @contextmanager
    def _locked_current(self):
        """An fd on the current file, exclusively locked, rotated first if it is due."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(100):  # each retry means another process just rotated
            # Readable too, to check the file's header.
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if self._is_current(fd) and not self._rotate_if_due(fd):
                    yield fd
                    return
            finally:
                os.close(fd)  # also releases the lock
        raise OSError(f"Could not lock {self.path}: it keeps being replaced.")

    def _is_current(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _rotate_if_due(self, fd: int) -> bool:
        """Rename a full file, yesterday's, or one whose header is another schema version's
        (rows appended under it would not match its columns) away, holding its lock; True if
        it was."""
        stat = os.fstat(fd)
        if stat.st_size == 0:
            return False
        last_write = datetime.fromtimestamp(stat.st_mtime, UTC).date()
        full_or_old = stat.st_size >= self.max_bytes or (self.daily and last_write < _today())
        if not full_or_old and _has_current_header(fd):
            return False
        self._rename_current()
        return True

    def _rename_current(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        rotated = self.directory / f"telemetry-{stamp}.csv"
        os.rename(self.path, rotated)
        return rotated

    def rotate(self) -> Path | None:
        """Rotate the current file now, so no writer appends to it any more.

        Returns the rotated file, or None when there was nothing to rotate. Writers waiting
        for the lock notice the rename and start a new file.
        """
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not self._is_current(fd) or os.fstat(fd).st_size == 0:
                return None
            return self._rename_current()
        finally:
            os.close(fd)

    # --- reading --------------------------------------------------------------------------

    def files(self, since: datetime | None = None) -> list[Path]:
        """Data files oldest first; with `since`, only those written to at or after it."""
        paths = sorted(self.directory.glob(ROTATED_GLOB))
        paths.append(self.path)
        if since is None:
            return [p for p in paths if p.exists()]
        return [p for p in paths if _mtime(p) is not None and _mtime(p) >= since.timestamp()]

    def iter_events(self, filters: EventFilter | None = None) -> Iterator[dict]:
        filters = filters or EventFilter()
        everything = filters == EventFilter()  # the common export: skip matching per event
        for path in self.files(since=filters.since):
            events = read_file(path)
            yield from events if everything else filter(filters.matches, events)

    def iter_cells(self, filters: EventFilter | None = None) -> Iterator[list[str] | str]:
        """iter_events' events as their stored cells (FIELDS order), for copying out as CSV.

        Rows are decoded only to apply filters, so an unfiltered copy is several times
        faster than decoding and re-encoding every event; unfiltered, plain rows come as
        their stored lines (read_lines_or_cells), not even split into cells.
        """
        filters = filters or EventFilter()
        if filters == EventFilter():
            for path in self.files():
                yield from read_lines_or_cells(path)
            return
        for path in self.files(since=filters.since):
            for cells in read_cells(path):
                if _matches(filters, cells):
                    yield cells

    def aggregate_usage(
        self, group_by: Sequence[str] = (), filters: EventFilter | None = None
    ) -> list[dict]:
        return aggregate(self.iter_events(filters), check_group_by(group_by))

    def rollup_rows(
        self, cube: str, filters: EventFilter, *, percentiles: bool = True
    ) -> list[Rollup] | None:
        try:
            return self._rollups.rows(cube, filters, percentiles)
        except sqlite3.Error as exc:
            # E.g. a read-only copy of the files: the reader counts the events instead.
            logger.warning("Telemetry rollups unreadable: %s", describe_error(exc))
            return None

    def rebuild_rollups(self) -> None:
        self._rollups.rebuild()

    def existing_ids(self, ids: Collection[str], since: datetime | None = None) -> set[str]:
        wanted = {i.encode() for i in ids}
        found: set[bytes] = set()
        for path in reversed(self.files(since=since)):
            found |= _ids_in(path, wanted)
            if found == wanted:
                break
        return {i.decode() for i in found}

    def prune(self, before: datetime, *, dry_run: bool = False) -> list[Path]:
        """Rotated and archived files last written before `before` (never the live file)."""
        candidates = [*self.directory.glob(ROTATED_GLOB), *self.directory.glob(ARCHIVED_GLOB)]
        old = sorted(
            p for p in candidates if (_mtime(p) or before.timestamp()) < before.timestamp()
        )
        if not dry_run:
            for path in old:
                path.unlink(missing_ok=True)
        return old

    def owns(self, path: Path) -> bool:
        return Path(path).resolve().parent == self.directory.resolve()

    def health(self) -> dict:
        """Whether the current file opens for appending, as a write would open it.

        (Asking os.access is not enough: root passes it on a read-only directory, and a
        file can be unwritable in a writable directory.)
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as exc:
            return {"ok": False, "error": f"{self.path} is not writable: {exc.strerror}"}
        return {"ok": True, "error": None}


def _encoded_rows(events: Sequence[dict]) -> tuple[bytes, dict[str, str]]:
    """The events' rows as UTF-8, and why the rows that cannot be written (text that is not
    Unicode, such as a lone surrogate) cannot: those are left out, not the whole batch."""
    try:
        return schema.csv_rows(events).encode(), {}
    except (UnicodeError, ValueError, TypeError):
        pass
    rows, refused = [], {}
    for event in events:
        try:
            rows.append(schema.csv_rows([event]).encode())
        except (UnicodeError, ValueError, TypeError) as exc:
            refused[event["event_id"]] = f"{type(exc).__name__}: {exc}"
    return b"".join(rows), refused


def _has_current_header(fd: int) -> bool:
    header = schema.CSV_HEADER.encode()
    return os.pread(fd, len(header), 0) == header


def _matches(filters: EventFilter, cells: list[str]) -> bool:
    try:
        return filters.matches(schema.event_from_cells(cells))
    except ValueError:
        return False  # unreadable: iter_events skips it too


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _today():
    return datetime.now(UTC).date()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def read_file(
    path: Path, on_bad_row: Callable[[int, str], None] | None = None, start: int = 0
) -> Iterator[dict]:
    """The events of one CSV file, in file order; from byte `start` (a row's first) on.

    Rows that cannot be events (a torn or hand-edited line) are skipped and, when
    `on_bad_row` is given, reported to it as (line number, reason).
    """
    for line, cells in _rows(path, on_bad_row, start):
        try:
            event = schema.event_from_cells(cells)
        except ValueError as exc:
            if on_bad_row is not None:
                on_bad_row(line, str(exc))
            continue
        yield event


def read_cells(path: Path) -> Iterator[list[str]]:
    """The rows of one CSV file as stored text, in FIELDS order, without decoding them."""
    return (cells for _, cells in _rows(path))


# One whole row as csv.writer writes it (minimal quoting, CRLF), with one cell per field:
# unquoted cells hold no comma, quote or line break; quoted ones double their quotes.
_CELL = r'(?:[^,"\r\n]*+|"(?:[^"]|"")*+")'
_WHOLE_ROW = re.compile(_CELL + ("," + _CELL) * (len(schema.FIELDS) - 1) + "\r\n")


def read_lines_or_cells(path: Path) -> Iterator[list[str] | str]:
    """The rows of one CSV file in FIELDS order, as read_cells gives them, except that a
    row whose stored line is whole (complete, one cell per field, quoted as csv.writer
    quotes) comes as that line, CRLF included: what writing its cells back gives (for a
    line some other tool quoted more than needed: the same cells, quoted as they were).
    """
    try:
        raw = open(path, "rb")  # noqa: SIM115 (the generator owns it)
    except FileNotFoundError:
        return
    with raw:
        header = raw.readline().decode().rstrip("\r\n")
        if header.split(",") == list(schema.FIELDS):
            yield from _lines_or_cells(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            return
    # Empty (see _rows), or another schema's columns: cells, aligned.
    yield from read_cells(path)


def _lines_or_cells(lines: Iterator[str]) -> Iterator[list[str] | str]:
    pending = _Pending(lines)
    reader = csv.reader(pending)
    for line in lines:
        if _WHOLE_ROW.fullmatch(line):
            yield line
            continue
        # A cell over several lines, a wrong count or an unfinished last line: parsed as
        # _rows parses them, from this line on.
        pending.first = line
        row = next(reader, None)
        if row is not None and len(row) == len(schema.FIELDS):
            yield row


class _Pending:
    """Lines for csv.reader: the one held back, then the file's next ones."""

    def __init__(self, lines: Iterator[str]):
        self.lines = lines
        self.first: str | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.first is not None:
            line, self.first = self.first, None
            return line
        return next(self.lines)


def _rows(path: Path, on_bad_row=None, start: int = 0) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells in FIELDS order) of each complete row from byte `start` on
    (line numbers count from `start`, the header being line 1 when it is 0)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (the generator owns it)
    except FileNotFoundError:
        return  # rotated away since it was listed: its rows are in the renamed file
    with raw:
        # A header is one plain line: field names need no quoting.
        line = raw.readline().decode().rstrip("\r\n")
        header = line.split(",") if line else None
        if header is None:
            # Empty: created by a writer that has not written yet. Reading on could catch
            # its rows arriving, header first, and take them for data.
            return
        if start > raw.tell():
            raw.seek(start)
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        first_line = 1 if start == 0 else 0  # the header's
        align = schema.row_aligner(header)
        for row in reader:
            line = reader.line_num + first_line
            if len(row) == len(header):
                yield line, align(row)
            elif on_bad_row is not None:
                on_bad_row(line, f"{len(row)} cells where the header has {len(header)}")


@contextmanager
def _locked_for_reading(path: Path):
    """Hold the lock writers of `path` take (shared: readers do not wait for each other)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield  # gone: nothing to wait for
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _ids_in(path: Path, wanted: set[bytes]) -> set[bytes]:
    found = set()
    try:
        with open(path, "rb") as handle:
            tail = b""
            while chunk := handle.read(_SCAN_CHUNK):
                data = tail + chunk
                cut = data.rfind(b"\n") + 1
                found.update(_wanted_ids(data[:cut], wanted))
                tail = data[cut:]
            found.update(_wanted_ids(tail, wanted))
    except FileNotFoundError:
        pass
    return found


def _wanted_ids(data: bytes, wanted: set[bytes]) -> Iterator[bytes]:
    return (m.group(1) for m in _ROW_ID.finditer(data) if m.group(1) in wanted)
