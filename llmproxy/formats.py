"""What the LLM endpoints send back: /api/llm/*'s JSON and events, and OpenAI's.

OpenAI's bodies are the upstream's (or a Gemini answer translated), passed on with the
model named as the caller named it; the gateway only adds what is missing (usage it
estimated) and the call's `cost` inside `usage`. Streams are Server-Sent Events. A failure
after the first byte can no longer change the HTTP status, so it arrives as a last
`{"error": ...}` event, in each format's own error shape.
"""

import json
from collections.abc import Iterator
from decimal import Decimal

from dgen_ping_site.clock import iso_utc
from dgen_ping_site.exceptions import error_body
from llmproxy.errors import UpstreamError, gateway_error, openai_error_body
from llmproxy.services import ChatCall, ChatResult, ChatStream, EmbeddingCall, EmbeddingResult

DONE = b"data: [DONE]\n\n"
COMPLETION, CHAT = "completion", "chat"


def sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


# --- /api/llm/* ------------------------------------------------------------------------------


def llm_body(
    kind: str, *, call: ChatCall, answer: ChatResult | ChatStream, request_id: str
) -> dict:
    """/api/llm's response: `completion` (or `message` for chat), `model`, `metadata`."""
    if kind == COMPLETION:
        body = {"completion": answer.text}
    else:
        body = {"message": {"role": "assistant", "content": answer.text}}
    usage = answer.usage
    body.update(
        model=call.model,
        finish_reason=answer.finish_reason,
        metadata={
            "request_id": request_id,
            "latency": round(answer.seconds, 3),
            "tokens": {
                "prompt": usage.prompt_tokens,
                "completion": usage.completion_tokens,
                "total": usage.total_tokens,
                "estimated": usage.estimated,
            },
            "cost": usd_number(answer.cost),
            "timestamp": iso_utc(),
        },
    )
    return body


def llm_events(
    kind: str, stream: ChatStream, *, call: ChatCall, request_id: str
) -> Iterator[bytes]:
    """`{"delta": text}` events, then the same body as without streaming, then [DONE]."""
    try:
        for chunk in stream:
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text and choice.get("index", 0) == 0:
                    yield sse({"delta": text})
    except UpstreamError as exc:
        error = gateway_error(exc)
        yield sse({"error": error_body(str(error.detail), error.detail.code)})
        return
    finally:
        stream.close()
    yield sse(llm_body(kind, call=call, answer=stream, request_id=request_id))
    yield DONE


# --- OpenAI's format -------------------------------------------------------------------------


def usd_number(cost: Decimal | None) -> float | None:
    """A cost as a JSON number of USD (null: the route has no price)."""
    return None if cost is None else float(cost)


def with_cost(usage: dict, cost: Decimal | None) -> dict:
    """OpenAI's `usage` object with the call's `cost` added: the one change the gateway makes
    to an upstream's body."""
    return {**usage, "cost": usd_number(cost)}


def openai_body(*, call: ChatCall, result: ChatResult) -> dict:
    """The upstream's chat.completion, as the caller named the model, with usage and cost."""
    body = result.reply.body
    body["model"] = call.model
    body["usage"] = with_cost(body.get("usage") or result.usage.as_openai(), result.cost)
    return body


def openai_events(stream: ChatStream, *, call: ChatCall, include_usage: bool) -> Iterator[bytes]:
    """The upstream's chunks as they come, then [DONE].

    The gateway always asks the upstream for usage; the caller gets it only if it asked
    (`stream_options.include_usage`), from the upstream, or estimated when none came, with
    the call's `cost` in it. The cost is known once the upstream's stream has ended and the
    call is settled, so the last chunk carrying usage (and any after it) waits for that end:
    upstreams send usage last, just before it.
    """
    last, held = None, []
    try:
        for chunk in stream:
            chunk["model"] = call.model
            last = chunk
            if not include_usage:
                if "usage" in chunk:
                    del chunk["usage"]
                    if not chunk.get("choices"):
                        continue
                yield sse(chunk)
            elif chunk.get("usage"):
                yield from map(sse, held)  # a usage that a later one replaces: as it came
                held = [chunk]
            elif held:
                held.append(chunk)
            else:
                yield sse(chunk)
    except UpstreamError as exc:
        yield from map(sse, held)
        error = gateway_error(exc)
        yield sse(openai_error_body(str(error.detail), error.detail.code, error.status_code))
        return
    finally:
        stream.close()
    if held:
        held[0]["usage"] = with_cost(held[0]["usage"], stream.cost)
        yield from map(sse, held)
    elif include_usage:
        head = {key: last[key] for key in ("id", "object", "created", "model") if key in last}
        yield sse(
            {**head, "choices": [], "usage": with_cost(stream.usage.as_openai(), stream.cost)}
        )
    yield DONE


def embeddings_body(*, call: EmbeddingCall, result: EmbeddingResult) -> dict:
    """The upstream's embeddings list, as the caller named the model, with usage and cost."""
    body = result.embeddings.body
    body["model"] = call.model
    usage = result.usage
    estimated = {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens}
    body["usage"] = with_cost(body.get("usage") or estimated, result.cost)
    return body
