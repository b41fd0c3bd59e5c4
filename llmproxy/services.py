"""LLM calls as the gateway makes them: route, retry, fall back, count tokens, and record
the request's telemetry fields (telemetry.context.annotate) however the call ends."""

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TypeVar

from django.conf import settings

from accounts.errors import SoeidMismatch
from accounts.identity import GatewayIdentity
from llmproxy import metering
from llmproxy.errors import UpstreamError, UpstreamRejected, describe
from llmproxy.providers.base import ChatRequest, DeltaStream, Provider, Usage
from llmproxy.retry import with_retries
from llmproxy.routing import Route, routing_table
from telemetry.context import annotate

logger = logging.getLogger(__name__)
T = TypeVar("T")

LLM_COMPLETION = "llm_completion"
LLM_CHAT = "llm_chat"
OPENAI_CHAT_COMPLETION = "openai_chat_completion"


@dataclass(frozen=True)
class ChatCall:
    """A validated caller request: the model as the caller named it, and what to ask it."""

    model: str
    request: ChatRequest
    stream: bool = False


@dataclass
class CallRecord:
    """What happened upstream during one call, reported as telemetry event fields."""

    call: ChatCall
    route: Route | None = None
    attempts: int = 0
    fallback_from: str | None = None
    usage: Usage | None = None
    error: str | None = None
    disconnected: bool = False
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def count_attempt(self) -> None:
        self.attempts += 1

    def fail(self, exc: UpstreamError) -> None:
        self.error = describe(exc)

    def finish(self) -> dict:
        """Stop the clock; the event fields (names of telemetry.schema)."""
        self.seconds = time.perf_counter() - self.started
        return self.fields()

    def fields(self) -> dict:
        call, route, usage = self.call, self.route, self.usage
        extra = {"stream": call.stream, "attempts": self.attempts}
        if self.fallback_from:
            extra["fallback_from"] = self.fallback_from
        if self.disconnected:
            extra["client_disconnected"] = True
        fields = {
            "model": call.model,
            "temperature": call.request.temperature,
            "max_tokens": call.request.max_tokens,
            "error": self.error,
            "extra": extra,
        }
        if route:
            fields.update(target_service=route.name, provider=route.provider)
            fields.update(upstream_model=route.model, upstream_latency_ms=self.seconds * 1000)
        if usage:
            fields.update(
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
            fields.update(total_tokens=usage.total_tokens, tokens_estimated=usage.estimated)
        return fields


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str
    usage: Usage
    seconds: float
    cost: Decimal | None = None  # USD; None when the route has no price


def charge_to(*, identity: GatewayIdentity, soeid: str | None, project_name: str | None) -> dict:
    """Who and which project a call is recorded for, as event fields.

    A real token's SOEID is the identity: a different body soeid is refused. Only with the
    development default token does the body say who is calling.
    """
    fields = {"project_name": project_name or identity.project_id or settings.DEFAULT_PROJECT}
    if identity.is_default:
        fields["soeid"] = soeid or settings.DEFAULT_SOEID
    elif soeid and soeid != identity.soeid:
        raise SoeidMismatch()
    return fields


def complete_chat(*, request, call: ChatCall) -> ChatResult:
    """The whole answer to `call`; raises UpstreamError when no route could answer."""
    record = CallRecord(call)
    meter = metering.reserve(request, call)
    try:
        reply = _through_routes(record, lambda provider: provider.complete(call.request))
        record.usage = reply.usage or estimate_usage(call.request.messages, reply.text)
    except UpstreamError as exc:
        record.fail(exc)
        raise
    finally:
        meter.settle(record.route, record.usage)
        annotate(request, **record.finish())
    return ChatResult(reply.text, reply.finish_reason, record.usage, record.seconds, meter.cost)


def open_chat_stream(*, request, call: ChatCall) -> "ChatStream":
    """A started stream (so a failing upstream is still an HTTP error); see ChatStream."""
    record = CallRecord(call)
    meter = metering.reserve(request, call)
    try:
        upstream = _through_routes(record, lambda provider: provider.stream(call.request))
    except UpstreamError as exc:
        record.fail(exc)
        meter.settle(record.route, None)
        annotate(request, **record.finish())
        raise
    return ChatStream(request=request, record=record, upstream=upstream, meter=meter)


class ChatStream:
    """The text of a streamed answer, piece by piece.

    When it ends, fails or is closed early (the client went away), it closes the upstream
    stream, settles the token usage (the upstream's, or an estimate of what was streamed so
    far) on the budgets and annotates the request's telemetry event.
    """

    def __init__(
        self, *, request, record: CallRecord, upstream: DeltaStream, meter: metering.Meter
    ):
        self._request = request
        self._record = record
        self._upstream = upstream
        self._meter = meter
        self._parts: list[str] = []
        self._upstream_usage: Usage | None = None
        self._complete = False
        self._settled = False
        self.finish_reason = "stop"
        self._pieces = self._read()

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def usage(self) -> Usage | None:
        return self._record.usage

    @property
    def seconds(self) -> float:
        return self._record.seconds

    @property
    def cost(self) -> Decimal | None:
        return self._meter.cost

    def close(self) -> None:
        self._pieces.close()
        self._settle()

    def _read(self) -> Iterator[str]:
        try:
            for delta in self._upstream:
                self._upstream_usage = delta.usage or self._upstream_usage
                self.finish_reason = delta.finish_reason or self.finish_reason
                if delta.text:
                    self._parts.append(delta.text)
                    yield delta.text
            self._complete = True
        except UpstreamError as exc:
            self._record.fail(exc)
            raise
        finally:
            self._settle()

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        self._upstream.close()
        record = self._record
        record.disconnected = not self._complete and record.error is None
        usage = self._upstream_usage if self._complete else None
        record.usage = usage or estimate_usage(record.call.request.messages, self.text)
        self._meter.settle(record.route, record.usage)
        annotate(self._request, **record.finish())


def _through_routes(record: CallRecord, operation: Callable[[Provider], T]) -> T:
    """operation(provider) on the model's route with retries, then on each fallback route."""
    table = routing_table()
    chain = table.chain(record.call.model)
    failure: UpstreamError | None = None
    for route in chain:
        if failure is not None:
            notice = "LLM route %s failed, falling back to %s: %s"
            logger.warning(notice, record.route.name, route.name, describe(failure))
            record.fallback_from = chain[0].name
        record.route = route
        policy = {"retries": route.retries, "backoff": route.backoff, "route": route.name}
        try:
            return with_retries(
                partial(operation, table.provider(route)), **policy, on_attempt=record.count_attempt
            )
        except UpstreamRejected:
            raise
        except UpstreamError as exc:
            failure = exc
    raise failure


def estimate_tokens(text: str) -> int:
    """About four characters a token: the usual rule of thumb for English text."""
    return math.ceil(len(text) / 4)


def estimate_usage(messages: list[dict], completion: str) -> Usage:
    prompt = sum(estimate_tokens(message["content"]) for message in messages)
    return Usage(prompt, estimate_tokens(completion), estimated=True)


def known_models() -> list[str]:
    return routing_table().model_names()


def is_known_model(name: str) -> bool:
    return routing_table().resolve(name) is not None
