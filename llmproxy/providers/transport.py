"""Posting JSON to an upstream through the shared pool, and reading what comes back.

Everything the HTTP client can raise or the upstream can answer becomes an UpstreamError
here, so providers deal only in bodies. Credentials go out in headers and never come back in
an error: the upstream's words are passed on only for a rejected request, redacted first.
"""

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

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
# How long the end of a stream's body (the chunked terminator, which upstreams send right
# behind `[DONE]`) may take to arrive: read, the connection goes back to the pool for the
# next call; not, it is closed, so an upstream that holds the body open delays nothing more.
END_OF_BODY_WAIT = 0.05
ERROR_MESSAGE_LIMIT = 1000
# Everything the HTTP client may raise for a request or a body that went wrong.
TRANSPORT_ERRORS = (Urllib3Error, OSError, ValueError)
# What reading an upstream body the gateway does not understand raises.
UNREADABLE = (ValueError, KeyError, IndexError, TypeError, AttributeError)
# Retries and redirects are ours (llmproxy.retry): what urllib3 would build from
# `retries=False, redirect=False` on every call, built once.
NO_RETRIES = Retry(False, redirect=False)


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """The layers' headers, one per name whatever its case, a later layer's replacing an
    earlier one's: names are case-insensitive, so a route's `content-type` sent beside our
    `Content-Type` would be two headers, and the upstream may read either."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


class Transport:
    """JSON over HTTP to one route's upstream, authenticated with its credential."""

    def __init__(self, route, credential, pool: urllib3.PoolManager, present=bearer):
        self.route = route
        self.credential = credential
        self.pool = pool
        self.present: Callable[[str], dict] = present  # secret -> headers that carry it
        # What every call to this route sends but its credential, built once: urllib3
        # would otherwise rebuild them (headers, timeout, retries) on every call.
        self._headers = merge_headers(
            DEFAULT_HEADERS, {"Content-Type": "application/json"}, route.headers
        )
        self._timeout = urllib3.Timeout(connect=route.connect_timeout, read=route.timeout)

    def post_json(self, url: str, body: dict) -> dict:
        """The upstream's JSON answer to `body`."""
        return read_json(self.post(url, body))

    def open_events(self, url: str, body: dict) -> "EventStream":
        """The upstream's Server-Sent Events for `body`, once it has answered 2xx."""
        return EventStream(self.post(url, body, stream=True), self.route.timeout)

    def post(self, url: str, body: dict, *, stream: bool = False) -> urllib3.BaseHTTPResponse:
        """A successful upstream response; on 401 with OAuth, retries once with a new token.

        Without `stream` the body has been read (and the connection is back in the pool);
        with it, read the body, then close() it.
        """
        data = json.dumps(body, allow_nan=False).encode()
        secret = self.credential.get()
        response = self._send(url, data, secret, stream)
        if response.status == 401 and self.credential.refreshable:
            close(response)
            self.credential.refresh(secret)
            secret = self.credential.get()
            response = self._send(url, data, secret, stream)
        if not 200 <= response.status < 300:
            # Everything that could carry a credential is masked in what we pass on.
            secrets = [secret, self.route.api_key, *self.route.headers.values()]
            raise error_for_response(response, secrets)
        return response

    def _send(self, url: str, data: bytes, secret: str, stream: bool) -> urllib3.BaseHTTPResponse:
        route = self.route
        try:
            # urlopen, not request(): the same call without copying the headers into an
            # HTTPHeaderDict first.
            return self.pool.urlopen(
                "POST",
                url,
                body=data,
                headers=merge_headers(self._headers, self.present(secret)),
                timeout=self._timeout,
                retries=NO_RETRIES,
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


@contextmanager
def unreadable_is_bad_response() -> Iterator[None]:
    """Reading an upstream body that is not what its API promises: UpstreamBadResponse."""
    try:
        yield
    except UNREADABLE as exc:
        raise UpstreamBadResponse("The upstream sent a response the gateway cannot read.") from exc


def loads(data: bytes | str):
    """JSON as the gateway can pass it on: NaN and Infinity, which Python reads but JSON does
    not allow (nor the gateway's renderer), are refused like any unreadable body."""
    return json.loads(data, parse_constant=_no_constant)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def read_json(response: urllib3.BaseHTTPResponse) -> dict:
    """A 2xx response's JSON object; anything else is an UpstreamBadResponse."""
    try:
        body = loads(response.data)
    except TRANSPORT_ERRORS as exc:
        raise UpstreamBadResponse("The upstream sent a response the gateway cannot read.") from exc
    if not isinstance(body, dict):
        raise UpstreamBadResponse("The upstream sent a response the gateway cannot read.")
    return body


class EventStream:
    """An upstream's Server-Sent Events, each a JSON object, until `[DONE]` or the end."""

    def __init__(self, response: urllib3.BaseHTTPResponse, timeout: float):
        self._response = response
        self._timeout = timeout

    def __iter__(self) -> Iterator[dict]:
        for data in sse_data(self._chunks()):
            if data.strip() == "[DONE]":
                self._read_to_the_end()
                return
            yield self._event(data)

    def _read_to_the_end(self) -> None:
        """After `[DONE]`, read the end of the body if it is there at once: a body read to its
        end puts its connection back in the pool (urllib3 releases it), so the next call
        skips the TCP and TLS handshakes."""
        sock = getattr(self._response.connection, "sock", None)
        if sock is None:
            return
        # Every request sets the socket's timeout again, so this one changes only this read.
        sock.settimeout(END_OF_BODY_WAIT)
        try:
            self._response.read1(STREAM_READ_SIZE)
        except TRANSPORT_ERRORS:
            pass  # not there in time: close() closes the connection, as without this

    def close(self) -> None:
        close(self._response)

    def _event(self, data: str) -> dict:
        try:
            event = loads(data)
        except ValueError as exc:
            raise UpstreamBadResponse("The upstream sent a stream event that is not JSON.") from exc
        if not isinstance(event, dict):
            raise UpstreamBadResponse("The upstream sent a stream event the gateway cannot read.")
        if event.get("error"):
            # Its message is not passed on: unlike a 4xx body, nothing here was redacted.
            raise UpstreamUnavailable("The upstream failed mid-stream.")
        return event

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


def close(response: urllib3.BaseHTTPResponse) -> None:
    """Done with a response. Read to the end, its connection is back in the pool already;
    otherwise the connection is closed (its unread rest would garble the next call) and
    its place in the pool given back."""
    response.close()
    response.release_conn()


def error_for_response(response: urllib3.BaseHTTPResponse, secrets: list[str]) -> UpstreamError:
    """The UpstreamError for a non-2xx upstream answer; closes the response."""
    code = response.status
    message = upstream_message(_body_of(response), secrets)
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


def upstream_message(body, secrets: list[str]) -> str:
    """The human message of an error body, redacted, then cut to ERROR_MESSAGE_LIMIT.

    In that order: cut first, and a secret straddling the cut would leave its prefix behind,
    too short for the redaction to recognise.
    """
    return redact(_message_of(body), secrets)[:ERROR_MESSAGE_LIMIT]


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
    """The message in an OpenAI- or Google-style error body, or the body's text."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            body = error.get("message") or error.get("detail") or ""
        else:
            body = error
    return str(body or "").strip()


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
