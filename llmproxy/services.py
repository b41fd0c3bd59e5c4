"""LLM calls as the gateway makes them: route, retry, fall back, count tokens, and record
the request's telemetry fields (telemetry.context.annotate) however the call ends.

Three calls, one path each: complete_chat, open_chat_stream (then ChatStream) and
create_embeddings. Each goes to the upstream through `_through_routes` exactly once, and each
ends in `CallRecord.finish` exactly once, with the final usage, whether it succeeded, failed,
or (for a stream) was cut short: the first reserves the call's worst case on its budgets and
tokens per minute (llmproxy.metering), the second settles it to what was used and prices it.
"""

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
from llmproxy import metering, metrics
from llmproxy.errors import (
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
    code_of,
    describe,
)
from llmproxy.providers.base import Provider
from llmproxy.providers.datatypes import (
    ChatRequest,
    ChunkStream,
    EmbeddingRequest,
    Embeddings,
    Reply,
    Usage,
    text_of,
)
from llmproxy.providers.transport import unreadable_is_bad_response
from llmproxy.retry import with_retries
from llmproxy.routing import Route, routing_table
from telemetry.context import annotate

logger = logging.getLogger(__name__)
T = TypeVar("T")

LLM_COMPLETION = "llm_completion"
LLM_CHAT = "llm_chat"
OPENAI_CHAT_COMPLETION = "openai_chat_completion"
OPENAI_EMBEDDING = "openai_embedding"


@dataclass(frozen=True)
class ChatCall:
    """A validated caller request: the model as the caller named it, and what to ask it."""

    operation = "chat"  # OpenTelemetry's gen_ai.operation.name

    model: str
    request: ChatRequest
    stream: bool = False

    def event_fields(self) -> dict:
        request = self.request
        return {"temperature": request.temperature, "max_tokens": request.max_tokens}

    def event_extra(self) -> dict:
        return {"stream": self.stream}

    def most_output_tokens(self) -> int:
        """The most completion tokens the call can be billed, for its worst case: max_tokens
        (else the model's limit, which the upstream may then reach) for each of `n` choices."""
        limit = self.request.max_tokens or routing_table().max_output_tokens(self.model)
        return limit * (self.request.body.get("n") or 1)


@dataclass(frozen=True)
class EmbeddingCall:
    operation = "embeddings"

    model: str
    request: EmbeddingRequest

    def event_fields(self) -> dict:
        return {}

    def event_extra(self) -> dict:
        return {"inputs": len(self.request.inputs)}

    def most_output_tokens(self) -> int:
        return 0  # an embedding is billed for its input only


@dataclass
class CallRecord:
    """What happened upstream during one call, reported as telemetry event fields."""

    call: ChatCall | EmbeddingCall
    route: Route | None = None
    tried: list[Route] = field(default_factory=list)  # each upstream attempt's route, in order
    failed: list[tuple[Route, str]] = field(default_factory=list)  # (route, error code) each
    fallback_from: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: int | None = None
    error: str | None = None
    error_type: str | None = None  # the error's code, for the metrics
    disconnected: bool = False
    meter: metering.Meter | None = None  # once the call's worst case is reserved
    cost: Decimal | None = None  # USD, once settled; None when the route has no price
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    first_chunk: float | None = None  # seconds from the start to a stream's first chunk

    def attempt(self, route: Route, operation: Callable[[], T]) -> T:
        """One upstream attempt on `route`, noted, whatever it ends in."""
        self.tried.append(route)
        try:
            return operation()
        except UpstreamError as exc:
            self.failed.append((route, code_of(exc)))
            raise

    def chunk_arrived(self) -> None:
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter() - self.started

    def fail(self, exc: UpstreamError, *, streaming: bool = False) -> None:
        """The call failed; `streaming`: while its answer streamed in, after the attempt that
        opened the stream had returned (still that attempt's failure)."""
        self.error, self.error_type = describe(exc), code_of(exc)
        if streaming:
            self.failed.append((self.route, self.error_type))

    def finish(self) -> dict:
        """Stop the clock, settle the reservation to the usage (None: nothing was used); the
        event fields (names of telemetry.schema). Called once a call."""
        self.seconds = time.perf_counter() - self.started
        if self.meter is not None:
            self.cost = self.meter.settle(self.route, self.usage)
        metrics.record_call(self)
        return self.fields()

    def fields(self) -> dict:
        call, route, usage = self.call, self.route, self.usage
        extra = {**call.event_extra(), "attempts": len(self.tried)}
        if self.fallback_from:
            extra["fallback_from"] = self.fallback_from
        if self.disconnected:
            extra["client_disconnected"] = True
        fields = {"model": call.model, "error": self.error, "extra": extra}
        if self.meter is not None:
            fields["cost"] = None if self.cost is None else float(self.cost)
        fields.update(call.event_fields())
        fields.update(finish_reason=self.finish_reason, tool_calls=self.tool_calls)
        if route:
            fields.update(target_service=route.name, provider=route.provider)
            fields.update(upstream_model=route.model, upstream_latency_ms=self.seconds * 1000)
        if usage:
            fields.update(
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
            fields.update(total_tokens=usage.total_tokens, tokens_estimated=usage.estimated)
            fields.update(
                cached_tokens=usage.cached_tokens, reasoning_tokens=usage.reasoning_tokens
            )
        return fields


@dataclass(frozen=True)
class ChatResult:
    """A whole answer, with the usage the gateway counted (the upstream's, or an estimate)."""

    reply: Reply
    usage: Usage
    seconds: float
    cost: Decimal | None = None  # USD; None when the route has no price

    @property
    def text(self) -> str:
        return self.reply.text

    @property
    def finish_reason(self) -> str:
        return self.reply.finish_reason


@dataclass(frozen=True)
class EmbeddingResult:
    embeddings: Embeddings
    usage: Usage
    cost: Decimal | None = None


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
    try:
        reply = _through_routes(request, record, lambda provider: provider.complete(call.request))
        with unreadable_is_bad_response():
            record.usage = reply.usage or estimate_usage(call.request.messages, len(reply.text))
            record.finish_reason, record.tool_calls = reply.finish_reason, reply.tool_calls
    except UpstreamError as exc:
        record.fail(exc)
        raise
    finally:
        annotate(request, **record.finish())
    return ChatResult(reply, record.usage, record.seconds, record.cost)


def open_chat_stream(*, request, call: ChatCall) -> "ChatStream":
    """A started stream (so a failing upstream is still an HTTP error); see ChatStream."""
    record = CallRecord(call)
    upstream = None
    try:
        upstream = _through_routes(request, record, lambda provider: provider.stream(call.request))
    except UpstreamError as exc:
        record.fail(exc)
        raise
    finally:
        if upstream is None:  # however it failed to start, it ends here: settled once
            annotate(request, **record.finish())
    return ChatStream(request=request, record=record, upstream=upstream)


def create_embeddings(*, request, call: EmbeddingCall) -> EmbeddingResult:
    """Vectors for `call`'s inputs; raises UpstreamError when no route could answer."""
    record = CallRecord(call)
    try:
        vectors = _through_routes(request, record, lambda provider: provider.embed(call.request))
        record.usage = vectors.usage or estimate_inputs(call.request.inputs)
    except UpstreamError as exc:
        record.fail(exc)
        raise
    finally:
        annotate(request, **record.finish())
    return EmbeddingResult(vectors, record.usage, record.cost)


class ChatStream:
    """The chunks of a streamed answer (OpenAI `chat.completion.chunk` bodies), as they come.

    It notes what telemetry needs from each (text length, tool calls, finish reason, usage)
    and, when the stream ends, fails or is closed early (the client went away), closes the
    upstream stream, settles the token usage (the upstream's, or an estimate of what was
    streamed so far) on the budgets and annotates the request's telemetry event.
    """

    def __init__(self, *, request, record: CallRecord, upstream: ChunkStream):
        self._request = request
        self._record = record
        self._upstream = upstream
        self._parts: list[str] = []  # the first choice's text, for /api/llm's final body
        self._characters = 0  # every choice's text, for an estimate
        self._tool_calls = 0
        self._upstream_usage: Usage | None = None
        self._ended = False  # some choice finished
        self._complete = False
        self._settled = False
        self.finish_reason = "stop"
        self._chunks = self._read()

    def __iter__(self) -> Iterator[dict]:
        return self._chunks

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
        return self._record.cost

    def close(self) -> None:
        self._chunks.close()
        self._settle()

    def _read(self) -> Iterator[dict]:
        try:
            with unreadable_is_bad_response():
                for chunk in self._upstream:
                    self._record.chunk_arrived()
                    self._note(chunk)
                    yield chunk
            if not self._ended:
                raise UpstreamUnavailable(
                    "The upstream stream ended before the answer was complete."
                )
            self._complete = True
        except UpstreamError as exc:
            self._record.fail(exc, streaming=True)
            raise
        finally:
            self._settle()

    def _note(self, chunk: dict) -> None:
        if chunk.get("usage"):
            self._upstream_usage = Usage.from_openai(chunk["usage"])
        for choice in chunk.get("choices") or ():
            first = choice.get("index", 0) == 0
            delta = choice.get("delta") or {}
            if content := delta.get("content"):
                self._characters += len(content)
                if first:
                    self._parts.append(content)
            # A call's first delta carries its id; later ones add to its arguments.
            self._tool_calls += sum(1 for call in delta.get("tool_calls") or () if call.get("id"))
            if reason := choice.get("finish_reason"):
                self._ended = True
                if first:
                    self.finish_reason = reason

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        self._upstream.close()
        record = self._record
        record.disconnected = not self._complete and record.error is None
        usage = self._upstream_usage if self._complete else None
        record.usage = usage or estimate_usage(record.call.request.messages, self._characters)
        record.finish_reason = self.finish_reason if self._ended else None
        record.tool_calls = self._tool_calls
        annotate(self._request, **record.finish())


def _through_routes(request, record: CallRecord, operation: Callable[[Provider], T]) -> T:
    """operation(provider) on the model's route with retries, then on each fallback route;
    first, the call's worst case is reserved (refused: BudgetExceeded, Throttled, ...)."""
    record.meter = metering.reserve(request, record.call)
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
        attempt = partial(record.attempt, route, partial(operation, table.provider(route)))
        try:
            return with_retries(attempt, **policy)
        except UpstreamRejected:
            raise
        except UpstreamError as exc:
            failure = exc
    raise failure


def estimate_tokens(characters: int) -> int:
    """About four characters a token: the usual rule of thumb for English text."""
    return math.ceil(characters / 4)


def estimate_usage(messages: list[dict], completion_characters: int) -> Usage:
    prompt = sum(len(text_of(message.get("content"))) for message in messages)
    return Usage(estimate_tokens(prompt), estimate_tokens(completion_characters), estimated=True)


def estimate_inputs(inputs: list) -> Usage:
    """Embedding inputs: texts by their length, token lists by their count."""
    return Usage(sum(_input_tokens(item) for item in inputs), 0, estimated=True)


def _input_tokens(item) -> int:
    if isinstance(item, str):
        return estimate_tokens(len(item))
    return len(item) if isinstance(item, list) else 1


def known_models(kind: str | None = None) -> list[str]:
    return routing_table().model_names(kind)


def is_known_model(name: str, kind: str | None = None) -> bool:
    return routing_table().resolve(name, kind) is not None
