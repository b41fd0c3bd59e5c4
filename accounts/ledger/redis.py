"""The ledger in Redis: chosen when CACHE_URL is a Redis URL.

A reservation is one Lua script: Redis runs a script alone, start to end, so checking every
counter and adding to all of them is one atomic step for every worker of every host that
shares the server. Counters are hashes {tokens, nanos} that expire a day after their window.
They live as long as Redis keeps them: give it persistence (appendonly) for spend to survive
a Redis restart. Counters of one call may sit on different Redis Cluster slots, so the
ledger needs one Redis server (with replicas if you like), not a cluster.
"""

from collections.abc import Sequence

from accounts.ledger.base import Entry, Ledger, LedgerUnavailable
from accounts.periods import now

PREFIX = "dgen-ping:spend:"
KEEP_SECONDS = 24 * 3600
NO_LIMIT = -1
# KEYS: the counters. ARGV, five per key: tokens, nanos, token limit, nanos limit (-1: no
# limit), seconds to keep. Returns 0 when all were added, else the 1-based index refused.
RESERVE = """
for i = 1, #KEYS do
  local a = (i - 1) * 5
  local held = redis.call('HMGET', KEYS[i], 'tokens', 'nanos')
  local token_limit, nanos_limit = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if (token_limit >= 0 and (tonumber(held[1]) or 0) + tonumber(ARGV[a + 1]) > token_limit)
      or (nanos_limit >= 0 and (tonumber(held[2]) or 0) + tonumber(ARGV[a + 2]) > nanos_limit)
  then
    return i
  end
end
for i = 1, #KEYS do
  local a = (i - 1) * 5
  redis.call('HINCRBY', KEYS[i], 'tokens', ARGV[a + 1])
  redis.call('HINCRBY', KEYS[i], 'nanos', ARGV[a + 2])
  redis.call('EXPIRE', KEYS[i], ARGV[a + 5])
end
return 0
"""
# KEYS: the counters; ARGV: tokens, nanos to add to each. One command, so one round trip
# with little for the client to do.
ADJUST = """
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'tokens', ARGV[1])
  redis.call('HINCRBY', KEYS[i], 'nanos', ARGV[2])
end
return 0
"""


class RedisLedger(Ledger):
    def __init__(self, url: str, timeout: float = 2.0):
        import redis  # only when Redis is configured

        self._errors = redis.RedisError
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._reserve = self._client.register_script(RESERVE)
        self._adjust = self._client.register_script(ADJUST)

    def add_within_limits(self, entries: Sequence[Entry]) -> int | None:
        keys = [PREFIX + entry.counter for entry in entries]
        args = [value for entry in entries for value in _arguments(entry)]
        try:
            refused = int(self._reserve(keys=keys, args=args))
        except self._errors as exc:
            raise LedgerUnavailable(str(exc)) from exc
        return refused - 1 if refused else None

    def adjust(self, counters: Sequence[str], tokens: int, nanos: int) -> None:
        try:
            self._adjust(keys=[PREFIX + counter for counter in counters], args=[tokens, nanos])
        except self._errors as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def totals(self, counters: Sequence[str]) -> dict[str, tuple[int, int]]:
        pipe = self._client.pipeline(transaction=False)
        for counter in counters:
            pipe.hmget(PREFIX + counter, "tokens", "nanos")
        try:
            found = pipe.execute()
        except self._errors as exc:
            raise LedgerUnavailable(str(exc)) from exc
        return {
            counter: (int(tokens or 0), int(nanos or 0))
            for counter, (tokens, nanos) in zip(counters, found, strict=True)
        }


def _arguments(entry: Entry) -> tuple[int, int, int, int, int]:
    keep = max(60, int((entry.window_end - now()).total_seconds())) + KEEP_SECONDS
    token_limit = NO_LIMIT if entry.token_limit is None else entry.token_limit
    nanos_limit = NO_LIMIT if entry.nanos_limit is None else entry.nanos_limit
    return entry.tokens, entry.nanos, token_limit, nanos_limit, keep
