"""What an LLM call may spend and what it spent: the gateway's governance hook.

The LLM path uses it in three places:
- `reserve(request, call)`, before the first upstream attempt (llmproxy.services'
  `_through_routes`, for chat, streamed or not, and embeddings), holds the call's worst case
  on its SOEID's tokens per minute (accounts.throttling) and on every budget that binds it
  (accounts.budgets). The worst case is one prompt token per byte of the request body (no
  tokenizer makes more; the body's JSON syntax outweighs the few tokens a chat template
  adds) plus the most completion tokens the call can be billed (`call.most_output_tokens()`:
  max_tokens, else the model's limit, times `n`; none for embeddings), priced at the
  highest price of the model's routes. Raises Throttled or BudgetExceeded (429,
  Retry-After), UnpricedModel (403) or BudgetUnavailable (503) instead of calling the
  upstream.
- `Meter.settle(route, usage)`, once the call has ended however it ended (answered, streamed
  to the end, cut short by the client, failed: usage None; `CallRecord.finish`), replaces
  the worst case by what was used and prices it (llmproxy.pricing); the event records it.
- `GovernanceHeaders`, a mixin of the LLM views, puts OpenAI's x-ratelimit-* headers and
  X-Request-Cost (USD, or "unknown" without a price) on every answer; a stream's cost comes
  in its last event instead, since its headers leave before the cost is known.
"""

import json
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from accounts import budgets
from accounts.identity import GatewayIdentity
from accounts.throttling import (
    TokenReservation,
    note_tokens,
    noted,
    reserve_tokens,
    reset_text,
    settle_tokens,
)
from llmproxy.pricing import cost_of, highest, to_nanos, usd
from llmproxy.providers.datatypes import Usage
from llmproxy.routing import routing_table
from telemetry.context import annotations

COST_HEADER = "X-Request-Cost"
METER_ATTR = "_llm_meter"


@dataclass
class Meter:
    """One call's reservations, until it settles; then what it cost."""

    request: object
    tokens: TokenReservation | None
    budget: budgets.Reservation
    cost: Decimal | None = None
    settled: bool = False

    def settle(self, route, usage) -> Decimal | None:
        """Charge what `usage` cost on `route` (None: nothing was used) instead of the worst
        case, and return that cost. Only the first call counts."""
        if self.settled:
            return self.cost
        self.settled = True
        price = route.price if route is not None else None
        if usage is None:
            self.cost = Decimal(0) if price is not None else None
        else:
            self.cost = cost_of(price, usage)
        tokens = usage.total_tokens if usage is not None else 0
        self.budget.settle(tokens=tokens, nanos=to_nanos(self.cost) if self.cost else 0)
        settle_tokens(self.request, self.tokens, tokens)
        return self.cost


def reserve(request, call) -> Meter:
    """Hold the worst case of `call` (llmproxy.services' ChatCall or EmbeddingCall) before it
    goes upstream."""
    soeid, project = payer(request)
    worst_usage = Usage(prompt_bound(request, call.request.body), call.most_output_tokens())
    worst = worst_usage.total_tokens
    price = highest(route.price for route in routing_table().chain(call.model))
    nanos = to_nanos(cost_of(price, worst_usage)) if price else None
    tokens = reserve_tokens(request, soeid=soeid, tokens=worst)
    try:
        budget = budgets.reserve(soeid=soeid, project=project, tokens=worst, nanos=nanos)
    except Exception:
        settle_tokens(request, tokens, 0)
        raise
    meter = Meter(request, tokens, budget)
    setattr(_django_request(request), METER_ATTR, meter)
    return meter


def payer(request) -> tuple[str, str]:
    """The SOEID and project a call is charged to: those its telemetry event records."""
    fields, identity = annotations(request), _identity(request)
    soeid = fields.get("soeid") or identity.soeid
    project = fields.get("project_name") or identity.project_id or settings.DEFAULT_PROJECT
    return soeid, project


def prompt_bound(request, body: dict) -> int:
    """At most how many prompt tokens a call can be billed: the request body's bytes (the
    upstream request body's, when the request says nothing of its length)."""
    length = request.META.get("CONTENT_LENGTH")
    if length and length.isdigit():
        return int(length)
    return len(json.dumps(body).encode())


class GovernanceHeaders:
    """Mixin for the LLM views: rate-limit and cost headers on every answer, errors too."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_headers(request, response)
        return response


def add_headers(request, response) -> None:
    identity = _identity(request)
    if identity is not None:
        note_tokens(request, soeid=payer(request)[0])
    for kind, state in noted(request).items():
        response[f"x-ratelimit-limit-{kind}"] = str(state.limit)
        response[f"x-ratelimit-remaining-{kind}"] = str(state.remaining)
        response[f"x-ratelimit-reset-{kind}"] = reset_text(state.reset)
    meter = getattr(_django_request(request), METER_ATTR, None)
    if meter is not None and meter.settled:
        response[COST_HEADER] = usd(meter.cost) if meter.cost is not None else "unknown"


def _identity(request) -> GatewayIdentity | None:
    # What authentication stored, without running it again (DRF copies it to the inner
    # request); only a gateway identity is charged.
    user = getattr(_django_request(request), "user", None)
    return user if type(user) is GatewayIdentity else None


def _django_request(request):
    return getattr(request, "_request", request)
