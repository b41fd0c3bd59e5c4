"""Upstream credentials: a static API key, or an OAuth2 client-credentials token.

The OAuth token is fetched once and shared by every thread of the process until shortly
before it expires; when an upstream answers 401, the caller hands back the token that failed
and exactly one thread fetches a new one while the others wait for it.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from llmproxy.errors import UpstreamAuthFailed, UpstreamTimeout, UpstreamUnavailable

logger = logging.getLogger(__name__)

# Refresh this long before the token expires, so no request leaves with a dying token.
REFRESH_MARGIN_SECONDS = 60.0
# For tokens without `expires_in`.
DEFAULT_LIFETIME_SECONDS = 300.0


class ApiKey:
    """A static key. There is nothing to refresh: a 401 means the key is wrong."""

    refreshable = False

    def __init__(self, key: str):
        self._key = key

    def get(self) -> str:
        return self._key

    def refresh(self, failed: str) -> None:
        """Nothing to do; callers check `refreshable` first."""


@dataclass(frozen=True)
class OAuthConfig:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = ""
    client_auth: str = "basic"  # or "body"
    timeout: float = 10.0


class ClientCredentials:
    """An OAuth2 client-credentials token, cached and refreshed safely across threads."""

    refreshable = True

    def __init__(
        self,
        config: OAuthConfig,
        session: requests.Session,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self._session = session
        self._clock = clock
        self._lock = threading.Lock()
        # (token, refresh at): one attribute, so readers without the lock see a consistent pair.
        self._current = ("", 0.0)

    def get(self) -> str:
        """A valid access token; fetches one only when the cached one is missing or ageing."""
        token, refresh_at = self._current
        if token and self._clock() < refresh_at:
            return token
        with self._lock:
            token, refresh_at = self._current
            if not token or self._clock() >= refresh_at:
                token = self._fetch()
            return token

    def refresh(self, failed: str) -> None:
        """Forget `failed` (rejected upstream) unless another thread has replaced it already."""
        with self._lock:
            if self._current[0] == failed:
                self._current = ("", 0.0)

    def _fetch(self) -> str:
        lifetime, token = self._request_token()
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        self._current = (token, self._clock() + lifetime - margin)
        logger.info("Obtained an upstream access token valid for %.0f s.", lifetime)
        return token

    def _request_token(self) -> tuple[float, str]:
        config = self.config
        data = {"grant_type": "client_credentials"}
        if config.scope:
            data["scope"] = config.scope
        auth = None
        if config.client_auth == "body":
            data.update(client_id=config.client_id, client_secret=config.client_secret)
        else:
            auth = (config.client_id, config.client_secret)
        try:
            response = self._session.post(
                config.token_url, data=data, auth=auth, timeout=config.timeout
            )
        except requests.Timeout as exc:
            raise UpstreamTimeout("The upstream token endpoint did not answer in time.") from exc
        except requests.RequestException as exc:
            raise UpstreamUnavailable("Could not reach the upstream token endpoint.") from exc
        return _parse_token_response(response)


def _parse_token_response(response: requests.Response) -> tuple[float, str]:
    """(lifetime seconds, access token); never puts the response body in an error."""
    if response.status_code >= 500:
        raise UpstreamUnavailable(
            f"The upstream token endpoint failed (HTTP {response.status_code}).",
            status=response.status_code,
        )
    if response.status_code != 200:
        raise UpstreamAuthFailed(
            f"The upstream token endpoint refused the gateway (HTTP {response.status_code}).",
            status=response.status_code,
        )
    try:
        body = response.json()
        token = body["access_token"]
        lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamAuthFailed("The upstream token endpoint sent an unreadable token.") from exc
    if not isinstance(token, str) or not token:
        raise UpstreamAuthFailed("The upstream token endpoint sent an empty token.")
    return lifetime, token
