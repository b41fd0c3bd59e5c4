"""What the OpenAPI schema says about errors, in one place: the error body and its statuses.

Views list the statuses they can answer with `error_responses(...)`, so the published schema
names every status a client may get (the fuzz suite, tests/fuzz, holds the code to it).
"""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_MEANINGS = {
    400: "Invalid input; `fields` says which and why.",
    401: "No token, or one that is invalid, expired or revoked.",
    403: "Not allowed: a missing or wrong X-Token-Secret, a body SOEID that is not the token's, "
    "or a model without a price under a cost budget.",
    404: "No such resource.",
    411: "A body sent without Content-Length (chunked) is refused (error shape: ErrorOutput).",
    413: "The request body is larger than MAX_REQUEST_BODY_BYTES (error shape: ErrorOutput).",
    429: "Rate limited (requests or tokens a minute, per SOEID), a budget exceeded, or the "
    "upstream rate limiting; Retry-After says when to come back.",
    502: "The upstream failed or answered something unreadable.",
    503: "A store the answer needs is unavailable: the telemetry store (reports), or the "
    "budget ledger (LLM calls under a budget, budget lists).",
    504: "The upstream did not answer in time.",
}

# The refusals of RequestBodyLimitMiddleware, possible wherever a body is taken.
BODY_REFUSALS = (411, 413)


class ErrorOutput(serializers.Serializer):
    """The project's error body (dgen_ping_site.exceptions)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="Per-field messages of bad input.")


def error_responses(*statuses: int, body=ErrorOutput) -> dict[int, OpenApiResponse]:
    """Schema responses for error `statuses`, each with the `body` serializer.

    The body refusals always have the project's shape: they come before any view runs.
    """
    return {
        status: OpenApiResponse(
            ErrorOutput if status in BODY_REFUSALS else body, description=ERROR_MEANINGS[status]
        )
        for status in statuses
    }
