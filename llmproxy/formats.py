"""What the LLM endpoints send back: the seed's JSON and events, and OpenAI's.

Streams are Server-Sent Events. A failure after the first byte can no longer change the HTTP
status, so it arrives as a last `{"error": ...}` event, in each format's own error shape.
"""

import json
import time
from collections.abc import Iterator
from decimal import Decimal

from dgen_ping_site.clock import iso_utc
from dgen_ping_site.exceptions import error_body
from llmproxy.errors import UpstreamError, gateway_error, openai_error_body
from llmproxy.providers.base import Usage
from llmproxy.services import ChatCall, ChatResult, ChatStream

DONE = b"data: [DONE]\n\n"
COMPLETION, CHAT = "completion", "chat"


def sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


# --- The seed's format -----------------------------------------------------------------------


def seed_body(
    kind: str, *, call: ChatCall, answer: ChatResult | ChatStream, request_id: str
) -> dict:
    """The seed's response: `completion` (or `message` for chat), `model`, `metadata`."""
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


def seed_events(
    kind: str, stream: ChatStream, *, call: ChatCall, request_id: str
) -> Iterator[bytes]:
    """`{"delta": text}` events, then the same body as without streaming, then [DONE]."""
    try:
        for text in stream:
            yield sse({"delta": text})
    except UpstreamError as exc:
        error = gateway_error(exc)
        yield sse({"error": error_body(str(error.detail), error.detail.code)})
        return
    finally:
        stream.close()
    yield sse(seed_body(kind, call=call, answer=stream, request_id=request_id))
    yield DONE


# --- OpenAI's format -------------------------------------------------------------------------


def openai_usage(usage: Usage, cost: Decimal | None) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost": usd_number(cost),
    }


def usd_number(cost: Decimal | None) -> float | None:
    """A cost as a JSON number of USD (null: the route has no price)."""
    return None if cost is None else float(cost)


def openai_body(*, call: ChatCall, answer: ChatResult, request_id: str) -> dict:
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": openai_usage(answer.usage, answer.cost),
    }


def openai_events(
    stream: ChatStream, *, call: ChatCall, request_id: str, include_usage: bool
) -> Iterator[bytes]:
    """chat.completion.chunk events as OpenAI sends them, usage last when asked, then [DONE]."""
    head = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk"}
    head.update(created=int(time.time()), model=call.model)

    def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return sse({**head, "choices": [choice]})

    try:
        yield chunk({"role": "assistant", "content": ""})
        for text in stream:
            yield chunk({"content": text})
    except UpstreamError as exc:
        error = gateway_error(exc)
        yield sse(openai_error_body(str(error.detail), error.detail.code, error.status_code))
        return
    finally:
        stream.close()
    yield chunk({}, stream.finish_reason)
    if include_usage:
        yield sse({**head, "choices": [], "usage": openai_usage(stream.usage, stream.cost)})
    yield DONE
