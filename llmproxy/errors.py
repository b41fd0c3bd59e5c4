"""Upstream failures as types, and the one place that maps them to gateway HTTP answers.

Providers raise these; the router retries the `retryable` ones and falls back on all but
`UpstreamRejected` (a bad request stays bad on any upstream). Messages are written for the
caller: they never contain upstream URLs, keys or tokens.
"""

import math

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.settings import api_settings

from dgen_ping_site.exceptions import json_exception_handler
from telemetry.context import annotate


class UpstreamError(Exception):
    """An upstream call failed. `status` is the upstream's HTTP status, when it answered."""

    retryable = False

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class UpstreamRejected(UpstreamError):
    """The upstream refused the request itself (a 4xx the caller can fix)."""


class UpstreamAuthFailed(UpstreamError):
    """The upstream refused the gateway's own credentials: an operator problem."""


class UpstreamRateLimited(UpstreamError):
    retryable = True


class UpstreamTimeout(UpstreamError):
    retryable = True


class UpstreamUnavailable(UpstreamError):
    """5xx, refused or broken connections."""

    retryable = True


class UpstreamBadResponse(UpstreamError):
    """The upstream answered 2xx with something we cannot read."""


class UpstreamMisconfigured(UpstreamError):
    """The route points at something the upstream does not have (404/405)."""


# Gateway status and error code for each failure; the single HTTP mapping.
GATEWAY_ANSWERS = {
    UpstreamRejected: (status.HTTP_400_BAD_REQUEST, "upstream_rejected_request"),
    UpstreamAuthFailed: (status.HTTP_502_BAD_GATEWAY, "upstream_auth_failed"),
    UpstreamRateLimited: (status.HTTP_429_TOO_MANY_REQUESTS, "upstream_rate_limited"),
    UpstreamTimeout: (status.HTTP_504_GATEWAY_TIMEOUT, "upstream_timeout"),
    UpstreamUnavailable: (status.HTTP_502_BAD_GATEWAY, "upstream_unavailable"),
    UpstreamBadResponse: (status.HTTP_502_BAD_GATEWAY, "upstream_bad_response"),
    UpstreamMisconfigured: (status.HTTP_502_BAD_GATEWAY, "upstream_misconfigured"),
    UpstreamError: (status.HTTP_502_BAD_GATEWAY, "upstream_error"),
}


def _answer_for(exc: UpstreamError) -> tuple[int, str]:
    return next(GATEWAY_ANSWERS[cls] for cls in type(exc).__mro__ if cls in GATEWAY_ANSWERS)


class GatewayError(APIException):
    """An UpstreamError as DRF answers it; `wait` becomes the Retry-After header."""

    def __init__(self, detail: str, code: str, status_code: int, wait: int | None = None):
        super().__init__(detail, code)
        self.status_code = status_code
        self.wait = wait


def gateway_error(exc: UpstreamError) -> GatewayError:
    status_code, code = _answer_for(exc)
    wait = None
    if isinstance(exc, UpstreamRateLimited):
        # Always tell the caller when to come back; 1 s when the upstream did not say.
        wait = max(1, math.ceil(exc.retry_after or 1))
    return GatewayError(exc.message, code, status_code, wait)


def describe(exc: UpstreamError) -> str:
    """'code: message', as the telemetry event's `error` field records it."""
    return f"{_answer_for(exc)[1]}: {exc.message}"


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced: a last guard for upstream messages we pass on."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def exception_handler(exc, context):
    """The project's JSON errors, for upstream failures too; records the error on the event."""
    if isinstance(exc, UpstreamError):
        exc = gateway_error(exc)
    response = json_exception_handler(exc, context)
    if response is not None:
        annotate(context["request"], error=_event_error(response.data))
    return response


def _event_error(body: dict) -> str:
    if "fields" in body:
        return f"{body['code']}: {body['fields']}"[:500]
    return f"{body['code']}: {body['detail']}"[:500]


OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
}


# Error codes that are their own type, as gateways that enforce budgets answer them.
OPENAI_CODE_TYPES = {"budget_exceeded": "budget_exceeded"}


def openai_error_body(detail: str, code: str, status_code: int, param: str | None = None) -> dict:
    """OpenAI's error shape, which its SDKs turn into the matching exception class."""
    kind = OPENAI_CODE_TYPES.get(code) or OPENAI_ERROR_TYPES.get(status_code, "api_error")
    return {"error": {"message": detail, "type": kind, "param": param, "code": code}}


def openai_exception_handler(exc, context):
    """exception_handler, reshaped as OpenAI errors for the /v1 endpoints."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    body = response.data
    param, message = None, body["detail"]
    if isinstance(exc, ValidationError) and body.get("fields"):
        param, first = _first_error(body["fields"])
        message = f"{param}: {first}"
    response.data = openai_error_body(message, body["code"], response.status_code, param)
    return response


def _first_error(detail, path: tuple = ()) -> tuple[str, str]:
    """Dotted path and message of the first error in DRF's nested error detail."""
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        if key != api_settings.NON_FIELD_ERRORS_KEY:
            path = (*path, str(key))
        return _first_error(value, path)
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], path)
    return ".".join(path), str(detail)
