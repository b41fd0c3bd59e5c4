"""Per-request telemetry: every request that is not excluded becomes exactly one event.

The event is built when the response is ready (or, for a streamed response, when the stream
has ended or the client went away) from what was measured here and what views annotated
(telemetry.context), and handed to the writer: a spool append, no other I/O.
"""

import functools
import ipaddress
import logging
import time
import uuid
from collections.abc import Iterable, Iterator

from django.conf import settings

from accounts.identity import GatewayIdentity
from dgen_ping_site.clock import iso_utc, utcnow
from telemetry import writer
from telemetry.context import annotations
from telemetry.metrics import recording as metrics
from telemetry.schema import build_event

logger = logging.getLogger("telemetry")

DEFAULT_EVENT_TYPE = "http_request"
# Measured values kept in `extra` when a view's annotation replaces them (POST /telemetry).
_KEEP_IF_REPLACED = ("request_id", "client_ip")


# Set in the WSGI environ once this middleware has the request in hand: the guard around the
# application (dgen_ping_site.wsgi_errors) records only the requests that never got here.
HANDLED = "dgen_ping.telemetry_handled"
# nginx's status for a request whose client went away before the answer was complete.
CLIENT_CLOSED_REQUEST = 499


class TelemetryMiddleware:
    """Gives every request an id (X-Request-ID) and records it as one telemetry event."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started, clock = utcnow(), time.perf_counter()
        request.request_id = str(uuid.uuid4())
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        request.META[HANDLED] = True
        if request.path.startswith(tuple(settings.TELEMETRY["EXCLUDED_PATHS"])):
            return response
        record = functools.partial(_record, request, response, started, clock)
        if response.streaming and not response.is_async:
            response.streaming_content = _RecordedStream(response.streaming_content, record)
        else:
            record(len(response.content) if not response.streaming else None)
        return response


def _record(request, response, started, clock, response_size, **measured) -> None:
    """Build this request's event and hand it off; never lets telemetry break a response."""
    try:
        latency_ms = round((time.perf_counter() - clock) * 1000, 3)
        fields = _measured(request, response, started, latency_ms, response_size)
        fields.update(measured)
        writer.emit(build_event(**_merge(fields, annotations(request))))
        metrics.http_request(request, fields)
    except Exception:
        logger.exception("Could not record telemetry for %s", request.path)


def _measured(request, response, started, latency_ms: float, response_size) -> dict:
    meta = request.META
    identity = getattr(request, "user", None)
    # Only a gateway identity: evaluating Django's lazy session user could hit the database.
    soeid = identity.soeid if type(identity) is GatewayIdentity else None
    return {
        "timestamp": iso_utc(started),
        "event_type": DEFAULT_EVENT_TYPE,
        "request_id": request.request_id,
        "client_ip": client_ip(meta),
        "client_id": soeid,
        "soeid": soeid,
        "project_name": identity.project_id if soeid else None,
        "token_jti": identity.jti if soeid else None,
        "endpoint": request.path,
        "method": request.method,
        "status_code": response.status_code,
        "latency_ms": latency_ms,
        "request_size": _int(meta.get("CONTENT_LENGTH")),
        "response_size": response_size,
        "user_agent": meta.get("HTTP_USER_AGENT"),  # cut to size by build_event
    }


def _merge(measured: dict, annotated: dict) -> dict:
    fields = {**measured, **annotated}
    # A view's "no error" does not hide how the request ended (e.g. the client went away).
    fields["error"] = annotated.get("error") or measured.get("error")
    extra = {**measured.get("extra", {}), **(annotated.get("extra") or {})}
    for name in _KEEP_IF_REPLACED:
        if fields[name] != measured[name]:
            extra[f"gateway_{name}"] = measured[name]
    fields["extra"] = extra
    return fields


def client_ip(meta: dict) -> str | None:
    """REMOTE_ADDR, or the X-Forwarded-For hop a trusted proxy vouches for.

    Walking X-Forwarded-For from the right, the first address that is not one of our
    trusted proxies is the client: anything left of it may be forged by the client.
    TRUSTED_PROXIES holds addresses or networks (10.0.0.0/8).
    """
    remote = meta.get("REMOTE_ADDR") or None
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if not forwarded or not _is_trusted(remote):
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop):
            return hop
    return hops[0] if hops else remote  # proxies all the way: the furthest one we know


def _is_trusted(address: str | None) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


@functools.lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _int(value) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


class _RecordedStream:
    """Passes a streamed body through, counting bytes; records the event once at the end.

    How the stream ended is the event's outcome: its status stays the one sent if it ran to
    its end; a client that went away first makes it 499 (as nginx counts it), a failure of
    the body itself 500. Django closes the view's own iterator before this one
    (response.close() runs resource closers in order), so a view's generator has annotated
    from its `finally:` by then.
    """

    def __init__(self, chunks: Iterable[bytes], record):
        self._chunks = iter(chunks)
        self._record = record
        self._size = 0
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._finish()
            raise
        except Exception as exc:
            self._finish(500, f"server_error: the stream failed ({type(exc).__name__})")
            raise
        self._size += len(chunk)
        return chunk

    def close(self) -> None:
        message = "client_disconnected: the client closed the connection before the end"
        self._finish(CLIENT_CLOSED_REQUEST, message)

    def _finish(self, status: int | None = None, error: str | None = None) -> None:
        if self._done:
            return
        self._done = True
        if status is None:
            self._record(self._size, extra={"streamed": True})
            return
        extra = {"streamed": True}
        if status == CLIENT_CLOSED_REQUEST:
            extra["disconnected"] = True
        self._record(self._size, extra=extra, status_code=status, error=error)
