"""The last guard around the WSGI application: no exception reaches the server.

Django turns what a view raises into our JSON 500 (dgen_ping_site.exceptions). What it does
not catch would reach gunicorn, which answers with an HTML page the telemetry middleware
never saw: an error while Django builds the request or runs its signal receivers, or a
streamed body that fails before its first chunk. Here such an error becomes a JSON 500 (or,
once a stream has begun, a last event saying what happened) and its telemetry event.
"""

import logging
import sys
import uuid

from dgen_ping_site.exceptions import error_body, error_text
from telemetry import writer
from telemetry.middleware import HANDLED, client_ip
from telemetry.schema import build_event

logger = logging.getLogger("django.request")

SERVER_ERROR = error_body("Internal server error.", "server_error")
JSON_500 = (b'{"detail": "Internal server error.", "code": "server_error"}',)
STREAM_ERROR = b'data: {"error": {"message": "Internal server error.", "code": "server_error"}}\n\n'


class JsonErrors:
    """Wraps a WSGI application (Django's) so that every error it raises is answered in JSON."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        try:
            response = self.application(environ, start_response)
        except Exception:
            logger.exception("Unhandled error outside the views: %s", _path(environ))
            request_id = str(uuid.uuid4())
            if not environ.get(HANDLED):  # else the telemetry middleware has recorded it
                _record(environ, request_id)
            return _json_500(start_response, sys.exc_info(), request_id)
        if getattr(response, "streaming", False):
            return _GuardedStream(response, environ, start_response)
        return response  # bytes already rendered: iterating cannot fail


def _json_500(start_response, exc_info, request_id: str) -> tuple[bytes]:
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(JSON_500[0]))),
        ("X-Request-ID", request_id),
    ]
    start_response("500 Internal Server Error", headers, exc_info)
    return JSON_500


def _record(environ, request_id: str) -> None:
    """The event of a request the telemetry middleware never saw."""
    try:
        event = build_event(
            request_id=request_id,
            client_ip=client_ip(environ),
            endpoint=_path(environ),
            method=environ.get("REQUEST_METHOD"),
            status_code=500,
            user_agent=environ.get("HTTP_USER_AGENT"),
            error=error_text(SERVER_ERROR),
        )
        writer.emit(event)
    except Exception:
        logger.exception("Could not record telemetry for %s", _path(environ))


def _path(environ) -> str:
    # WSGI gives the path as latin-1 text of the raw bytes; read it as the UTF-8 it was.
    raw = environ.get("PATH_INFO", "").encode("latin-1", "replace")
    return raw.decode("utf-8", "backslashreplace")


class _GuardedStream:
    """A streamed body whose failure never reaches the server: before the first chunk it
    becomes a JSON 500 (the status line is not sent yet); after it, a last server-sent event
    (or, for other streams, an end), since the status is already on its way."""

    def __init__(self, response, environ, start_response):
        self._response = response
        self._chunks = iter(response)
        self._environ = environ
        self._start_response = start_response
        self._started = False
        self._failed = False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self._failed:
            raise StopIteration
        try:
            chunk = next(self._chunks)
        except StopIteration:
            raise
        except Exception:
            logger.exception("A streamed answer failed: %s", _path(self._environ))
            self._failed = True
            return self._after_failure()
        self._started = True
        return chunk

    def _after_failure(self) -> bytes:
        if not self._started:  # the stream's own event (telemetry.middleware) says 500
            request_id = self._response.get("X-Request-ID", "")
            return _json_500(self._start_response, sys.exc_info(), request_id)[0]
        if self._response.get("Content-Type", "").startswith("text/event-stream"):
            return STREAM_ERROR
        return b""

    def close(self) -> None:
        self._response.close()
