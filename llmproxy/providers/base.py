"""The provider interface, and the HTTP plumbing every upstream API shares.

A provider speaks one upstream wire format for one route. It raises UpstreamError (never an
HTTP client's exception) so the router can retry, fall back and answer the caller uniformly.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

from dgen_ping_site.clock import utcnow
from llmproxy.errors import (
    UpstreamAuthFailed,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    redact,
)
from llmproxy.http import DEFAULT_HEADERS
from llmproxy.providers.sse import sse_data

STREAM_READ_SIZE = 16 * 1024
ERROR_MESSAGE_LIMIT = 1000
# Everything the HTTP client may raise for a request or a body that went wrong.
TRANSPORT_ERRORS = (Urllib3Error, OSError, ValueError)


@dataclass(frozen=True)
class ChatRequest:
    """What the caller asks of the model; the route supplies the upstream model and place."""

    messages: list[dict]  # [{"role": "system" | "user" | "assistant", "content": str}]
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    # Of the prompt tokens, those the upstream served from its cache (priced apart).
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str
    usage: Usage | None  # None: the upstream did not say


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed answer; usage and finish_reason only on pieces that carry them."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


class Provider:
    """Client of one upstream API for one route (llmproxy.routing.Route)."""

    def __init__(self, route, credential, pool: urllib3.PoolManager):
        self.route = route
        self.credential = credential
        self.pool = pool

    def complete(self, request: ChatRequest) -> Reply:
        """The whole answer in one call; raises UpstreamError."""
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> "DeltaStream":
        """Opens a streamed answer (failures to start raise here); iterate it, then close() it."""
        raise NotImplementedError

    def auth_headers(self, secret: str) -> dict:
        """Headers that present `secret` (API key or OAuth token) the way this upstream wants."""
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def post(self, url: str, body: dict, *, stream: bool = False) -> urllib3.BaseHTTPResponse:
        """A successful upstream response; on 401 with OAuth, retries once with a new token.

        Without `stream` the body has been read (and the connection is back in the pool);
        with it, read the body, then close() it (llmproxy.providers.base.close).
        """
        secret = self.credential.get()
        response = self._send(url, body, secret, stream)
        if response.status == 401 and self.credential.refreshable:
            close(response)
            self.credential.refresh(secret)
            secret = self.credential.get()
            response = self._send(url, body, secret, stream)
        if not 200 <= response.status < 300:
            # Everything that could carry a credential is masked in what we pass on.
            secrets = [secret, self.route.api_key, *self.route.headers.values()]
            raise error_for_response(response, secrets)
        return response

    def _send(self, url: str, body: dict, secret: str, stream: bool) -> urllib3.BaseHTTPResponse:
        route = self.route
        headers = {**DEFAULT_HEADERS, "Content-Type": "application/json"}
        headers.update(route.headers)
        headers.update(self.auth_headers(secret))
        try:
            return self.pool.request(
                "POST",
                url,
                body=json.dumps(body, allow_nan=False).encode(),
                headers=headers,
                timeout=urllib3.Timeout(connect=route.connect_timeout, read=route.timeout),
                preload_content=not stream,
                # A redirect would carry our credentials headers to wherever it points.
                redirect=False,
            )
        except NewConnectionError as exc:  # a ConnectTimeoutError too, but not a timeout
            raise UpstreamUnavailable("Could not connect to the upstream.") from exc
        except ConnectTimeoutError as exc:
            message = f"Could not connect to the upstream within {route.connect_timeout:g} s."
            raise UpstreamTimeout(message) from exc
        except ReadTimeoutError as exc:
            message = f"The upstream did not answer within {route.timeout:g} s."
            raise UpstreamTimeout(message) from exc
        except TRANSPORT_ERRORS as exc:
            raise UpstreamUnavailable("Could not connect to the upstream.") from exc

    def read_json(
        self, response: urllib3.BaseHTTPResponse, parse: Callable[[dict], Reply]
    ) -> Reply:
        """The upstream's JSON body, parsed; anything unexpected is an UpstreamBadResponse."""
        try:
            return parse(json.loads(response.data))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise UpstreamBadResponse(
                "The upstream sent a response the gateway cannot read."
            ) from exc


class DeltaStream:
    """Deltas of a streamed answer; close() releases the upstream connection."""

    def __iter__(self) -> Iterator[Delta]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop reading; safe to call more than once."""


class EventStream(DeltaStream):
    """An upstream's Server-Sent Events, each turned into a Delta by `parse`."""

    def __init__(
        self, response: urllib3.BaseHTTPResponse, parse: Callable[[dict], Delta], timeout: float
    ):
        self._response = response
        self._parse = parse
        self._timeout = timeout

    def __iter__(self) -> Iterator[Delta]:
        finished = False
        for data in sse_data(self._chunks()):
            if data.strip() == "[DONE]":
                return
            delta = self._delta(data)
            finished = finished or delta.finish_reason is not None
            yield delta
        if not finished:
            raise UpstreamUnavailable("The upstream stream ended before the answer was complete.")

    def close(self) -> None:
        close(self._response)

    def _delta(self, data: str) -> Delta:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise UpstreamBadResponse("The upstream sent a stream event that is not JSON.") from exc
        if isinstance(event, dict) and event.get("error"):
            # Its message is not passed on: unlike a 4xx body, nothing here was redacted.
            raise UpstreamUnavailable("The upstream failed mid-stream.")
        try:
            return self._parse(event)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise UpstreamBadResponse(
                "The upstream sent a stream event the gateway cannot read."
            ) from exc

    def _chunks(self) -> Iterator[bytes]:
        while True:
            try:
                # read1: whatever has arrived, so each event goes on as soon as it is complete.
                chunk = self._response.read1(STREAM_READ_SIZE, decode_content=True)
            except ReadTimeoutError as exc:
                raise UpstreamTimeout(
                    f"The upstream stream stalled for more than {self._timeout:g} s."
                ) from exc
            except TRANSPORT_ERRORS as exc:
                raise UpstreamUnavailable("The upstream stream broke off.") from exc
            if not chunk:
                return
            yield chunk


class ListStream(DeltaStream):
    """Deltas already in memory (the local provider)."""

    def __init__(self, deltas: list[Delta]):
        self._deltas = deltas

    def __iter__(self) -> Iterator[Delta]:
        return iter(self._deltas)


def close(response: urllib3.BaseHTTPResponse) -> None:
    """Done with a response. Read to the end, its connection is back in the pool already;
    otherwise the connection is closed (its unread rest would garble the next call) and
    its place in the pool given back."""
    response.close()
    response.release_conn()


def error_for_response(response: urllib3.BaseHTTPResponse, secrets: list[str]) -> UpstreamError:
    """The UpstreamError for a non-2xx upstream answer; closes the response."""
    code = response.status
    message = redact(_message_of(_body_of(response)), secrets)
    close(response)
    if code in (401, 403, 407):
        # Whatever the upstream said may describe our credentials: say nothing about them.
        return UpstreamAuthFailed("The upstream refused the gateway's credentials.", status=code)
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return UpstreamRateLimited(
            "The upstream is rate limiting requests.", status=code, retry_after=retry_after
        )
    if code == 408:
        return UpstreamTimeout("The upstream timed out handling the request.", status=code)
    if code in (404, 405) or 300 <= code < 400:
        return UpstreamMisconfigured(
            f"The upstream has no such model or endpoint (HTTP {code}).", status=code
        )
    if code < 500:
        detail = f": {message}" if message else f" (HTTP {code})."
        return UpstreamRejected(f"The upstream rejected the request{detail}", status=code)
    return UpstreamUnavailable(f"The upstream failed (HTTP {code}).", status=code)


def _body_of(response: urllib3.BaseHTTPResponse):
    try:
        data = response.data
    except TRANSPORT_ERRORS:
        return ""
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def _message_of(body) -> str:
    """The human message in an OpenAI- or Google-style error body, or the body's text."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            body = error.get("message") or error.get("detail") or ""
        else:
            body = error
    return str(body or "").strip()[:ERROR_MESSAGE_LIMIT]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None
