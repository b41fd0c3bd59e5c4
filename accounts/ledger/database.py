"""The ledger in Django's database (accounts.models.SpendCounter): the default.

A reservation is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE counter + amount <= limit`
per counter, in one transaction. The statement reads and writes the row as one step, so two
calls can never both see room that only one of them fits in:
- SQLite serialises writers on the database file: across the threads and processes of one
  host, each conditional add runs alone (WAL mode, see settings, lets the revocation reads
  carry on meanwhile);
- PostgreSQL locks the conflicting row and evaluates the WHERE on its latest version (also
  under READ COMMITTED), so replicas on many hosts sharing it add up exactly too. Counters
  are taken in a fixed order (longest period first), so two calls cannot deadlock.
The WHERE refuses without writing; the transaction then rolls back the counters already
added for the same call, so a refused call leaves nothing behind.
"""

import time
from collections.abc import Sequence
from datetime import timedelta

from django.db import DatabaseError, connections, transaction

from accounts.ledger.base import Entry, Ledger, LedgerUnavailable
from accounts.periods import now

# SpendCounter's table (accounts.models).
ADD = (
    "INSERT INTO accounts_spendcounter (name, tokens, nanos, window_end) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
    "tokens = accounts_spendcounter.tokens + excluded.tokens, "
    "nanos = accounts_spendcounter.nanos + excluded.nanos"
)
WITHIN = {
    "token_limit": "accounts_spendcounter.tokens + excluded.tokens <= %s",
    "nanos_limit": "accounts_spendcounter.nanos + excluded.nanos <= %s",
}
ADJUST = "UPDATE accounts_spendcounter SET tokens = tokens + %s, nanos = nanos + %s WHERE name = %s"
TOTALS = "SELECT name, tokens, nanos FROM accounts_spendcounter WHERE name IN ({})"
PRUNE = "DELETE FROM accounts_spendcounter WHERE window_end < %s"


class _Refused(Exception):
    def __init__(self, index: int):
        self.index = index


class DatabaseLedger(Ledger):
    def __init__(self, alias: str = "default", prune_interval: float = 3600.0, keep_days: int = 1):
        self.alias = alias
        self.prune_interval = prune_interval
        self.keep = timedelta(days=keep_days)
        self._pruned = time.monotonic()

    def add_within_limits(self, entries: Sequence[Entry]) -> int | None:
        try:
            with transaction.atomic(using=self.alias), self._cursor() as cursor:
                for index, entry in enumerate(entries):
                    if not self._add(cursor, entry):
                        raise _Refused(index)
        except _Refused as refused:
            return refused.index
        except DatabaseError as exc:
            raise LedgerUnavailable(str(exc)) from exc
        self._prune_now_and_then()
        return None

    def adjust(self, entries: Sequence[Entry]) -> None:
        rows = [(entry.tokens, entry.nanos, entry.counter) for entry in entries]
        try:
            with transaction.atomic(using=self.alias), self._cursor() as cursor:
                cursor.executemany(ADJUST, rows)
        except DatabaseError as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def totals(self, counters: Sequence[str]) -> dict[str, tuple[int, int]]:
        found = {name: (0, 0) for name in counters}
        if not counters:
            return found
        query = TOTALS.format(", ".join(["%s"] * len(counters)))
        try:
            with self._cursor() as cursor:
                cursor.execute(query, list(counters))
                found.update({name: (tokens, nanos) for name, tokens, nanos in cursor.fetchall()})
        except DatabaseError as exc:
            raise LedgerUnavailable(str(exc)) from exc
        return found

    def _cursor(self):
        return connections[self.alias].cursor()

    def _add(self, cursor, entry: Entry) -> bool:
        """Add `entry` if its counter stays within its limits; whether it did."""
        limits = {name: getattr(entry, name) for name in WITHIN}
        limits = {name: limit for name, limit in limits.items() if limit is not None}
        statement = ADD
        if limits:
            statement += " WHERE " + " AND ".join(WITHIN[name] for name in limits)
        values = [entry.counter, entry.tokens, entry.nanos, entry.window_end]
        cursor.execute(statement, values + list(limits.values()))
        return cursor.rowcount == 1

    def _prune_now_and_then(self) -> None:
        """Forget counters whose window ended more than `keep` ago, once an interval."""
        if time.monotonic() - self._pruned < self.prune_interval:
            return
        self._pruned = time.monotonic()
        try:
            with self._cursor() as cursor:
                cursor.execute(PRUNE, [now() - self.keep])
        except DatabaseError:
            pass  # next interval; nothing depends on old rows being gone
