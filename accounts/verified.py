"""Tokens whose signature and claims this process has already verified, until they expire.

Decoding a gateway JWT costs ~57 µs (PyJWT checks every base64 character in Python and
re-checks the HMAC key's format), on every request, for the same few tokens. Only what
cannot change for a given token string is remembered: its signature and claims, keyed by
the whole string, so a token that differs by one character is decoded afresh. Expiry can
change with time, so a remembered token is given back only while the clock is before its
`exp` plus the leeway the decoder allows (its backend's, settings.SIMPLE_JWT["LEEWAY"], 0):
exactly when the decoder itself would still accept it. Revocation is not remembered here:
callers ask accounts.revocation after this, on every request, as before.

Refusals are not remembered (a forger pays the full decode every time). The memory is
bounded (`MAX_TOKENS`, the oldest verified dropped first); accounts.services empties it
when the JWT settings change (tests; production never changes them).
"""

import threading
import time
from collections.abc import Callable

from rest_framework_simplejwt.state import token_backend

MAX_TOKENS = 10_000


class VerifiedTokens:
    def __init__(
        self,
        decode: Callable[[str], dict],
        *,
        max_tokens: int = MAX_TOKENS,
        clock: Callable[[], float] = time.time,
    ):
        self.decode = decode
        self.max_tokens = max_tokens
        self.clock = clock
        # raw token -> (claims, when verified, when the decoder starts refusing it)
        self._verified: dict[str, tuple[dict, float, float]] = {}
        self._lock = threading.Lock()

    def claims(self, raw: str) -> dict:
        """The token's claims (a copy), decoded now unless verified before and not expired."""
        entry = self._verified.get(raw)
        if entry is not None:
            now = self.clock()
            # A clock stepped back before the verification also sends it to the decoder.
            if entry[1] <= now < entry[2]:
                return dict(entry[0])
            self._forget(raw)
        verified_at = self.clock()
        claims = self.decode(raw)
        expires = claims["exp"] + token_backend.get_leeway().total_seconds()
        self._remember(raw, (claims, verified_at, expires))
        return dict(claims)

    def clear(self) -> None:
        with self._lock:
            self._verified.clear()

    def _remember(self, raw: str, entry: tuple[dict, float, float]) -> None:
        with self._lock:
            if raw not in self._verified and len(self._verified) >= self.max_tokens:
                del self._verified[next(iter(self._verified))]
            self._verified[raw] = entry

    def _forget(self, raw: str) -> None:
        with self._lock:
            self._verified.pop(raw, None)
