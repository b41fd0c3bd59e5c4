"""Statements on the LLM call path, run on the thread's DB-API connection itself.

Budgets run two or three statements on every LLM call that has one. Django's cursor wrapper
(which rewrites placeholders with a regex on every SQLite call) and transaction.atomic cost
more in Python than SQLite takes to run them: two conditional upserts in one transaction take
~75 µs of CPU through Django and ~20 µs on the DB-API connection (docs/benchmarks.md).
Statements keep Django's %s placeholders and are converted once to the driver's style.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

from django.db import DatabaseError, connections, transaction

# How each database starts a transaction that takes its write lock at once.
BEGIN = {"sqlite": "BEGIN IMMEDIATE"}


@lru_cache(maxsize=64)
def _qmark(statement: str) -> str:
    return statement.replace("%s", "?")


class Cursor:
    """A DB-API cursor that takes %s placeholders whatever the driver's style."""

    def __init__(self, cursor, qmark: bool):
        self._cursor = cursor
        self._qmark = qmark

    def execute(self, statement: str, params: Sequence = ()) -> "Cursor":
        self._cursor.execute(_qmark(statement) if self._qmark else statement, params)
        return self

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchall(self) -> list:
        return self._cursor.fetchall()


@contextmanager
def cursor(alias: str = "default", *, atomic: bool = False) -> Iterator[Cursor]:
    """A cursor on the thread's connection to `alias`. With `atomic`, its statements commit
    together or not at all; inside an atomic block already (tests), a savepoint does that.
    Driver errors are raised as Django's DatabaseError."""
    connection = connections[alias]
    if atomic and connection.in_atomic_block:
        with transaction.atomic(using=alias), connection.cursor() as wrapped:
            yield Cursor(wrapped, qmark=False)
        return
    connection.ensure_connection()
    raw = connection.connection.cursor()
    try:
        if atomic:
            raw.execute(BEGIN.get(connection.vendor, "BEGIN"))
        yield Cursor(raw, qmark=connection.vendor == "sqlite")
        if atomic:
            raw.execute("COMMIT")
    except BaseException as exc:
        if atomic:
            _rollback(raw)
        if isinstance(exc, connection.Database.Error):
            connection.errors_occurred = True  # Django's health check looks again
            raise DatabaseError(str(exc)) from exc
        raise
    finally:
        raw.close()


def _rollback(raw) -> None:
    try:
        raw.execute("ROLLBACK")
    except Exception:  # noqa: S110 (no transaction left to roll back: nothing to do)
        pass
