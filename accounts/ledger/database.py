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

from django.db import DatabaseError, connections

from accounts import rawsql
from accounts.ledger.base import Entry, Ledger, LedgerUnavailable
from accounts.periods import now

# SpendCounter's table (accounts.models). Statements are written out, as they run on every
# LLM call with a budget: the ORM would spend more than the database does.
ADD = (
    "INSERT INTO accounts_spendcounter (name, tokens, nanos, window_end) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
    "tokens = accounts_spendcounter.tokens + excluded.tokens, "
    "nanos = accounts_spendcounter.nanos + excluded.nanos"
)
WITHIN_TOKENS = "accounts_spendcounter.tokens + excluded.tokens <= %s"
WITHIN_NANOS = "accounts_spendcounter.nanos + excluded.nanos <= %s"
# The statement for each combination of limits (token limit?, nanos limit?).
ADD_WITHIN = {
    (False, False): ADD,
    (True, False): f"{ADD} WHERE {WITHIN_TOKENS}",
    (False, True): f"{ADD} WHERE {WITHIN_NANOS}",
    (True, True): f"{ADD} WHERE {WITHIN_TOKENS} AND {WITHIN_NANOS}",
}
ADJUST = (
    "UPDATE accounts_spendcounter SET tokens = tokens + %s, nanos = nanos + %s WHERE name IN ({})"
)
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
            refused = self._add_all(entries)
        except DatabaseError as exc:
            raise LedgerUnavailable(str(exc)) from exc
        if refused is None:
            self._prune_now_and_then()
        return refused

    def adjust(self, counters: Sequence[str], tokens: int, nanos: int) -> None:
        statement = ADJUST.format(", ".join(["%s"] * len(counters)))
        try:
            with self._cursor() as cursor:
                cursor.execute(statement, [tokens, nanos, *counters])
        except DatabaseError as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def totals(self, counters: Sequence[str]) -> dict[str, tuple[int, int]]:
        found = {name: (0, 0) for name in counters}
        if not counters:
            return found
        query = TOTALS.format(", ".join(["%s"] * len(counters)))
        try:
            with self._cursor() as cursor:
                rows = cursor.execute(query, list(counters)).fetchall()
            found.update({name: (tokens, nanos) for name, tokens, nanos in rows})
        except DatabaseError as exc:
            raise LedgerUnavailable(str(exc)) from exc
        return found

    def _cursor(self, atomic: bool = False):
        return rawsql.cursor(self.alias, atomic=atomic)

    def _add_all(self, entries: Sequence[Entry]) -> int | None:
        """Every counter, in one transaction (one statement needs none): a refusal rolls
        back the ones added."""
        adapt = connections[self.alias].ops.adapt_datetimefield_value
        try:
            with self._cursor(atomic=len(entries) > 1) as cursor:
                for index, entry in enumerate(entries):
                    if not self._add(cursor, entry, adapt(entry.window_end)):
                        raise _Refused(index)
        except _Refused as refused:
            return refused.index
        return None

    def _add(self, cursor, entry: Entry, window_end) -> bool:
        """Add `entry` if its counter stays within its limits; whether it did. `window_end`
        is entry.window_end as the database driver takes it."""
        limits = [limit for limit in (entry.token_limit, entry.nanos_limit) if limit is not None]
        statement = ADD_WITHIN[entry.token_limit is not None, entry.nanos_limit is not None]
        cursor.execute(statement, [entry.counter, entry.tokens, entry.nanos, window_end, *limits])
        return cursor.rowcount == 1

    def _prune_now_and_then(self) -> None:
        """Forget counters whose window ended more than `keep` ago, once an interval."""
        if time.monotonic() - self._pruned < self.prune_interval:
            return
        self._pruned = time.monotonic()
        cutoff = connections[self.alias].ops.adapt_datetimefield_value(now() - self.keep)
        try:
            with self._cursor() as cursor:
                cursor.execute(PRUNE, [cutoff])
        except DatabaseError:
            pass  # next interval; nothing depends on old rows being gone
