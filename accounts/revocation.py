"""Whether a token is revoked, without a database round trip on every request.

Each process remembers, per token id (jti), what the token registry answered and when it
asked, and asks again once that answer is `RECHECK_SECONDS` old. The bound this gives: a
revocation committed to the registry by another process (another worker or replica,
`manage.py revoke_token`, the admin of another process) is refused by every process within
`RECHECK_SECONDS` (2 s) of its commit; in the process that revoked it, at once (the revoking
code marks it here). Proof: an answer is used only while younger than the bound, and its age
is counted from before the query was sent, so any answer used at `t >= commit + bound` comes
from a query sent after the commit, which sees it.

A revoked token stays refused; the memory is bounded (`MAX_TOKENS` ids, then it starts
again), which costs at most one query per token and process.
"""

import time
from collections.abc import Callable, Iterable

RECHECK_SECONDS = 2.0
MAX_TOKENS = 50_000


class RevocationCache:
    def __init__(
        self,
        lookup: Callable[[str], bool],
        *,
        recheck: float = RECHECK_SECONDS,
        max_tokens: int = MAX_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lookup = lookup
        self.recheck = recheck
        self.max_tokens = max_tokens
        self.clock = clock
        self._answers: dict[str, tuple[float, bool]] = {}

    def is_revoked(self, jti: str) -> bool:
        """The registry's answer, asked again once the one remembered is `recheck` old."""
        answer = self._answers.get(jti)
        if answer is not None and (answer[1] or self.clock() - answer[0] < self.recheck):
            return answer[1]
        asked = self.clock()  # before the query: its answer covers commits made before this
        revoked = self.lookup(jti)
        if len(self._answers) >= self.max_tokens:
            self._answers.clear()
        self._answers[jti] = (asked, revoked)
        return revoked

    def revoked(self, jtis: Iterable[str]) -> None:
        """This process revoked these: refused here from now on, without asking."""
        now = self.clock()
        for jti in jtis:
            self._answers[jti] = (now, True)

    def clear(self) -> None:
        self._answers.clear()
