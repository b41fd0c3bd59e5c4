"""The ledger's contract: counters of tokens and nano-dollars, one per budget window,
changed atomically by every worker of every host that shares the ledger."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

# Larger amounts fit no counter (64-bit on every ledger), so no budget can hold them.
MAX_AMOUNT = 2**62


class LedgerUnavailable(Exception):
    """The ledger's store cannot be reached or refused the operation."""


@dataclass(frozen=True)
class Entry:
    """An amount for one counter, and the limits the counter must stay within (None: none).

    `window_end` is when the counter's window ends: it may be forgotten some time after.
    """

    counter: str
    tokens: int
    nanos: int
    window_end: datetime
    token_limit: int | None = None
    nanos_limit: int | None = None

    def exceeds_alone(self) -> bool:
        """Whether this amount passes a limit even on an unused counter."""
        if max(self.tokens, self.nanos) > MAX_AMOUNT:
            return True
        return (self.token_limit is not None and self.tokens > self.token_limit) or (
            self.nanos_limit is not None and self.nanos > self.nanos_limit
        )


class Ledger:
    """Where spend is counted. Instances are shared by the threads of one process."""

    def reserve(self, entries: Sequence[Entry]) -> int | None:
        """Add every entry, or none when a counter would pass a limit: then the index of the
        first entry that would. Atomic across processes and hosts."""
        alone = next((i for i, entry in enumerate(entries) if entry.exceeds_alone()), None)
        return alone if alone is not None else self.add_within_limits(entries)

    def add_within_limits(self, entries: Sequence[Entry]) -> int | None:
        """reserve() for entries that each fit an unused counter: the store's atomic step."""
        raise NotImplementedError

    def adjust(self, counters: Sequence[str], tokens: int, nanos: int) -> None:
        """Add `tokens` and `nanos` to each counter, limits unchecked (negative amounts give
        back): settling a call, whose every counter changes by the same amounts."""
        raise NotImplementedError

    def totals(self, counters: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(tokens, nanos) of each counter; (0, 0) for one never used."""
        raise NotImplementedError
