"""A CSV store's rollups (telemetry.rollups), in SQLite beside its files: rollups.sqlite3.

Rollup rows are kept per file, so they follow the files: a rotated file keeps its rows (a
file is known by its inode and first event id, not by its name), and a file archived by
replay_telemetry, pruned or deleted leaves the reports with its rows. Each file's record
says how many of its bytes are rolled up:

- a writer adds its batch right after appending it, still holding the file's lock, in one
  SQLite transaction that also moves the file's count to its new end;
- before answering, a reader checks every file: bytes beyond the count (a writer killed
  between its append and its transaction, a file written by an older version or copied in)
  are read and added, in a transaction that moves the count; a file that shrank, or whose
  first event changed, is counted again from its start.

So a row is never missed and never counted twice, whatever dies when: the count and the
rows it covers change together. The file can always be deleted: it is rebuilt from the CSV
files (`manage.py telemetry_rollups --rebuild` does it at once).
"""

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import orjson

from telemetry import histogram, rollups
from telemetry.rollups import CUBES, DIMENSIONS, Key, Rollup, Totals
from telemetry.usage import TOKEN_FIELDS

FILENAME = "rollups.sqlite3"
_SUMS = ("requests", "errors", *TOKEN_FIELDS, "nanos")
_KEY = ("cube", *DIMENSIONS, "file")
_COLUMNS = (*_KEY, *_SUMS, "latency_min", "latency_max", "histogram")
# SQL below is built from these constant names only; values are always parameters.
_SCHEMA = [
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE files (id INTEGER PRIMARY KEY, inode INTEGER NOT NULL UNIQUE, "
    "first_id TEXT NOT NULL, rolled INTEGER NOT NULL)",
    # Each cube's rows, with '' for the dimensions it does not have (and for None).
    "CREATE TABLE rollups ("
    + ", ".join(f"{name} TEXT NOT NULL" for name in _KEY[:-1])
    + ", file INTEGER NOT NULL, "
    + ", ".join(f"{name} INTEGER NOT NULL" for name in _SUMS)
    + ", latency_min REAL, latency_max REAL, histogram TEXT NOT NULL, "
    + f"PRIMARY KEY ({', '.join(_KEY)})) WITHOUT ROWID",
]
_MERGES = [
    *(f"{name} = {name} + excluded.{name}" for name in _SUMS),
    "latency_min = coalesce(min(latency_min, excluded.latency_min), latency_min, "
    "excluded.latency_min)",
    "latency_max = coalesce(max(latency_max, excluded.latency_max), latency_max, "
    "excluded.latency_max)",
    "histogram = merge_histograms(histogram, excluded.histogram)",
]
_ADD = (
    f"INSERT INTO rollups ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "  # noqa: S608
    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {', '.join(_MERGES)}"
)


class FileRecord(NamedTuple):
    id: int
    first_id: str
    rolled: int  # bytes of the file whose rows are counted


class FileRollups:
    """The rollups of the CSV files of one directory. No I/O until used.

    The store says which its files are (`files()`), how it reads one from a byte offset
    (`read(path, start)`, as its reports read it), and how to hold the lock its writers
    take on a file (`locked(path)`, a context manager).
    """

    def __init__(self, directory: Path, files: Callable, read: Callable, locked: Callable):
        self.path = Path(directory) / FILENAME
        self.files = files
        self.read_events = read
        self.locked = locked

    # --- the database ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _database(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection (one per use: shared by no thread, safe across forks); with `write`,
        inside one transaction that holds SQLite's write lock from its start."""
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            db.create_function("merge_histograms", 2, _merge_histograms, deterministic=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._ensure_schema(db)
            if not write:
                yield db
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    @staticmethod
    def _ensure_schema(db: sqlite3.Connection) -> None:
        """Create the tables, or start afresh when they hold another rollup definition."""
        if _version(db) == rollups.VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            if _version(db) != rollups.VERSION:
                for table in ("rollups", "files", "meta"):
                    db.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('version', ?)", (rollups.VERSION,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # --- writing: a batch just appended -----------------------------------------------------

    def appended(self, path: Path, inode: int, start: int, end: int, events: Sequence[dict]):
        """Count `events`, just written to `path` between bytes `start` and `end`.

        Called with the file's lock held, so no one else writes to it meanwhile. When the
        bytes before `start` are not all counted, the file is read from its count instead.
        """
        with self._database(write=True) as db:
            if start == 0:  # a new file (its inode may be a deleted file's): start afresh
                _forget(db, _record(db, inode))
                db.execute(
                    "INSERT INTO files (inode, first_id, rolled) VALUES (?, ?, 0)",
                    (inode, events[0]["event_id"]),
                )
            record = _record(db, inode)
            if record is None or record.rolled != start:
                self._count_file(db, path, inode, record)
                return
            _add(db, record.id, rollups.tally(events))
            db.execute("UPDATE files SET rolled = ? WHERE id = ?", (end, record.id))

    # --- reading ----------------------------------------------------------------------------

    def rows(self, cube: str, filters, percentiles: bool) -> list[Rollup]:
        """The cube's rows matching `filters` (whole days), once every file is counted to
        its end."""
        files = self.catch_up()
        if not files:
            return []
        with self._database() as db:
            return _select(db, files, cube, filters, percentiles)

    def catch_up(self) -> list[int]:
        """Count what is not counted yet in the store's files; forget files that left it.
        The ids of the files holding events."""
        paths = self.files()
        if not paths:
            return []
        with self._database() as db:
            records = {row[0]: FileRecord(*row[1:]) for row in db.execute(_FILES)}
        files = []
        for path in paths:
            found = _identify(path)
            if found is None:
                continue  # no event in it (yet), or gone
            inode, size, first_id = found
            record = records.get(inode)
            if record is None or (record.first_id, record.rolled) != (first_id, size):
                record = self._count(path, inode)
            if record is not None:
                files.append(record.id)
        self._forget_missing(paths, records)
        return files

    def _count(self, path: Path, inode: int) -> FileRecord | None:
        with self.locked(path), self._database(write=True) as db:
            found = _identify(path)
            if found is None or found[0] != inode:
                return None  # replaced meanwhile: the next read counts the new one
            self._count_file(db, path, inode, _record(db, inode))
            return _record(db, inode)

    def _count_file(self, db, path: Path, inode: int, record: FileRecord | None) -> None:
        """Count the rows of `path` past its record's count (all of them when the file is
        new, shrank or begins with another event). The caller holds the file's lock, or the
        file is rotated: either way its size does not change meanwhile."""
        found = _identify(path)
        if found is None:
            _forget(db, record)
            return
        _, size, first_id = found
        if record is None or record.first_id != first_id or record.rolled > size:
            _forget(db, record)
            cursor = db.execute(
                "INSERT INTO files (inode, first_id, rolled) VALUES (?, ?, 0)", (inode, first_id)
            )
            record = FileRecord(cursor.lastrowid, first_id, 0)
        _add(db, record.id, rollups.tally(self.read_events(path, start=record.rolled)))
        db.execute("UPDATE files SET rolled = ? WHERE id = ?", (size, record.id))

    def _forget_missing(self, paths: Sequence[Path], known: Mapping[int, FileRecord]) -> None:
        """Drop the records and rows of files that left the store (archived, pruned)."""
        present = {inode for inode in map(_inode, paths) if inode is not None}
        gone = [inode for inode in known if inode not in present]
        if not gone:
            return
        with self._database(write=True) as db:
            # Listed again inside the transaction: a writer may have started a file since.
            present = {inode for inode in map(_inode, self.files()) if inode is not None}
            for inode in gone:
                if inode not in present:
                    _forget(db, _record(db, inode))

    def rebuild(self) -> None:
        """Forget every count, then count every file again."""
        with self._database(write=True) as db:
            db.execute("DELETE FROM rollups")
            db.execute("DELETE FROM files")
        self.catch_up()


_FILES = "SELECT inode, id, first_id, rolled FROM files"


def _version(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
    except sqlite3.OperationalError:
        return None  # no table yet
    return row[0] if row else None


def _record(db: sqlite3.Connection, inode: int) -> FileRecord | None:
    row = db.execute("SELECT id, first_id, rolled FROM files WHERE inode = ?", (inode,))
    found = row.fetchone()
    return FileRecord(*found) if found else None


def _forget(db: sqlite3.Connection, record: FileRecord | None) -> None:
    if record is not None:
        db.execute("DELETE FROM rollups WHERE file = ?", (record.id,))
        db.execute("DELETE FROM files WHERE id = ?", (record.id,))


def _add(db: sqlite3.Connection, file_id: int, counted: Mapping[Key, Totals]) -> None:
    rows = (_row(cube, key, file_id, totals) for cube, key, totals in rollups.cube_rows(counted))
    db.executemany(_ADD, rows)


def _row(cube: str, key: Key, file_id: int, totals: Totals) -> tuple:
    values = dict(zip(CUBES[cube], key, strict=True))
    dims = ["" if values.get(name) is None else str(values[name]) for name in DIMENSIONS]
    sums = [totals.requests, totals.errors, *totals.tokens.values(), totals.nanos]
    hist = orjson.dumps(histogram.to_text_keys(totals.histogram)).decode()
    return (cube, *dims, file_id, *sums, totals.latency_min, totals.latency_max, hist)


def _merge_histograms(mine: str, theirs: str) -> str:
    merged = histogram.merge(histogram.from_text_keys(orjson.loads(mine)), _parsed(theirs))
    return orjson.dumps(histogram.to_text_keys(merged)).decode()


def _parsed(text: str) -> dict[int, int]:
    return histogram.from_text_keys(orjson.loads(text))


def _select(db, files: list[int], cube: str, filters, percentiles: bool) -> list[Rollup]:
    dims = CUBES[cube]
    where = [f"file IN ({', '.join('?' * len(files))})", "cube = ?"]
    params: list = [*files, cube]
    first, end = rollups.day_range(filters)
    if first is not None or end is not None:
        where.append("day != ''")
    for operator, day in ((">=", first), ("<", end)):
        if day is not None:
            where.append(f"day {operator} ?")
            params.append(day)
    for name, value in rollups.filter_values(filters, cube).items():
        where.append(f"{name} = ?")
        params.append(value)
    columns = [*dims, *_SUMS, "latency_min", "latency_max"]
    columns += ["histogram"] if percentiles else []
    query = f"SELECT {', '.join(columns)} FROM rollups WHERE {' AND '.join(where)}"  # noqa: S608
    return [_rollup(dims, row, percentiles) for row in db.execute(query, params)]


def _rollup(dims: Sequence[str], row: tuple, percentiles: bool) -> Rollup:
    values = {name: _value(name, text) for name, text in zip(dims, row, strict=False)}
    sums = row[len(dims) : len(dims) + len(_SUMS)]
    requests, errors, *tokens, nanos = sums
    low, high = row[len(dims) + len(_SUMS) : len(dims) + len(_SUMS) + 2]
    totals = Totals(requests, errors, dict(zip(TOKEN_FIELDS, tokens, strict=True)), nanos)
    if percentiles:
        totals.latency_min, totals.latency_max = low, high
        totals.histogram = _parsed(row[-1])
    return Rollup(values, totals)


def _value(name: str, text: str):
    if text == "":
        return None
    return int(text) if name == "status" else text


# --- the files ------------------------------------------------------------------------------


def _identify(path: Path) -> tuple[int, int, str] | None:
    """(inode, size, first event id) of a CSV file; None if it is gone or holds no event."""
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            head = handle.read(8192)  # the header and the start of the first row
    except FileNotFoundError:
        return None
    _, newline, rest = head.partition(b"\n")
    first_id = rest.split(b",", 1)[0] if newline else b""
    if not first_id or len(first_id) == len(rest):
        return None
    return stat.st_ino, stat.st_size, first_id.decode("utf-8", "replace")


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
