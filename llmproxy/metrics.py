"""What each LLM call adds to the metrics (telemetry.metrics.instruments), once, when it ends
(llmproxy.services' `CallRecord.finish`, which every call reaches exactly once).

OpenTelemetry's GenAI client metrics: token usage, the call's duration (with its error type
when it failed) and, for a stream, the time to its first chunk; then each failed upstream
attempt, each retry and each fallback, by route. Observed from the call itself, not from its
telemetry event: `POST /telemetry` lets a client write any model and token counts into an
event, but only the gateway's own calls reach here.

Label values come from the routing table, so they stay bounded: the model as the client
named it when the table knows that name (or alias), else "other"; the provider and the name
of the route that answered.
"""

import logging
from itertools import pairwise

from django.conf import settings

from llmproxy.metering import payer
from llmproxy.routing import routing_table
from telemetry.metrics import instruments as m

logger = logging.getLogger(__name__)


def record_call(record) -> None:
    """Record a finished call (a `CallRecord`); a call refused before any upstream attempt
    (budget, rate limit) did not happen as far as these metrics go."""
    if not record.tried:
        return
    try:
        _record(record)
    except Exception:  # metrics must never break an answer
        logger.exception("Could not record the metrics of an LLM call")


def _record(record) -> None:
    call, route, usage = record.call, record.route, record.usage
    gen_ai = (call.operation, route.provider, model_label(call.model))
    m.series(m.GEN_AI_DURATION, *gen_ai, record.error_type or "").observe(record.seconds)
    if record.first_chunk is not None:
        m.series(m.GEN_AI_TIME_TO_FIRST_CHUNK, *gen_ai).observe(record.first_chunk)
    if usage is not None:
        tokens = {"input": usage.prompt_tokens, "output": usage.completion_tokens}
        if call.operation == "embeddings":
            del tokens["output"]  # an embedding has no output tokens to count
        for kind, count in tokens.items():
            m.series(m.GEN_AI_TOKEN_USAGE, *gen_ai, kind).observe(count)
        if settings.METRICS["SOEID_LABEL"]:
            soeid = payer(record.meter.request)[0]
            for kind, count in tokens.items():
                m.series(m.SOEID_TOKENS, soeid, kind).inc(count)
    _attempts(record)


def _attempts(record) -> None:
    for route, code in record.failed:
        m.series(m.UPSTREAM_ERRORS, route.provider, route.name, code).inc()
    for previous, current in pairwise(record.tried):
        if current is previous:
            m.series(m.UPSTREAM_RETRIES, current.provider, current.name).inc()
        else:
            labels = (previous.provider, previous.name, current.name)
            m.series(m.UPSTREAM_FALLBACKS, *labels).inc()


def model_label(model: str) -> str:
    return model if routing_table().resolve(model) is not None else m.OTHER
