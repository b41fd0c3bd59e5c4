"""Upstream failures as types, and the one place that maps them to gateway HTTP answers.

Providers raise these; the router retries the `retryable` ones and falls back on all but
`UpstreamRejected` (a bad request stays bad on any upstream). Messages are written for the
caller: they never contain upstream URLs, keys or tokens.
"""

import math

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError

from dgen_ping_site.exceptions import error_text, field_errors, json_exception_handler


class UpstreamError(Exception):
    """An upstream call failed. `status` is the upstream's HTTP status, when it answered."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.param = param  # the request field at fault, when one is


class UpstreamRejected(UpstreamError):
    """The upstream refused the request itself (a 4xx the caller can fix)."""


class UnsupportedParameter(UpstreamRejected):
    """The route's upstream has no equivalent of a request field: refused, never dropped.

    Raised before anything is sent, so no upstream sees a request it would misread."""


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
    UnsupportedParameter: (status.HTTP_400_BAD_REQUEST, "unsupported_parameter"),
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

    def __init__(
        self,
        detail: str,
        code: str,
        status_code: int,
        wait: int | None = None,
        param: str | None = None,
    ):
        super().__init__(detail, code)
        self.status_code = status_code
        self.wait = wait
        self.param = param


class UnknownModel(APIException):
    """A /v1 request for a model the endpoint does not serve: OpenAI answers 404."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "model_not_found"

    def __init__(self, model: str, kind: str | None = None):
        what = f"a {kind} model" if kind else "a model"
        super().__init__(
            f"The model {model!r} does not exist: it is not {what} of this gateway "
            "(GET /v1/models lists them)."
        )


def gateway_error(exc: UpstreamError) -> GatewayError:
    status_code, code = _answer_for(exc)
    wait = None
    if isinstance(exc, UpstreamRateLimited):
        # Always tell the caller when to come back; 1 s when the upstream did not say.
        wait = max(1, math.ceil(exc.retry_after or 1))
    return GatewayError(exc.message, code, status_code, wait, exc.param)


def describe(exc: UpstreamError) -> str:
    """'code: message', as the telemetry event's `error` field and the logs record it."""
    return error_text({"code": code_of(exc), "detail": exc.message})


def code_of(exc: UpstreamError) -> str:
    """The gateway's error code for a failure (upstream_timeout, ...): one of a fixed few."""
    return _answer_for(exc)[1]


REDACTED = "[redacted]"
# Shorter values are not treated as secrets: replacing them would garble ordinary words.
SECRET_MIN_LENGTH = 4


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced: a last guard for upstream messages we pass on.

    Longest first, so a secret containing another is replaced whole. A text that ends with
    the beginning of a secret (an upstream that cut its own echo short) loses that end too.
    """
    secrets = sorted((s for s in secrets if s and len(s) >= SECRET_MIN_LENGTH), key=len)
    for secret in reversed(secrets):
        text = text.replace(secret, REDACTED)
    for secret in secrets:
        for length in range(len(secret) - 1, SECRET_MIN_LENGTH - 1, -1):
            if text.endswith(secret[:length]):
                return text[:-length] + REDACTED
    return text


def exception_handler(exc, context):
    """The project's JSON errors, for upstream failures too (recorded on the event by
    json_exception_handler, as dgen_ping_site.exceptions.error_text words them)."""
    if isinstance(exc, UpstreamError):
        exc = gateway_error(exc)
    return json_exception_handler(exc, context)


OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",  # OpenAI's type for unknown models and paths alike
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
    param, message = getattr(exc, "param", None), body["detail"]
    if isinstance(exc, ValidationError) and body.get("fields"):
        param, first = next(field_errors(body["fields"]))
        message = f"{param}: {first}" if param else first
        param = param or None
    response.data = openai_error_body(message, body["code"], response.status_code, param)
    return response
