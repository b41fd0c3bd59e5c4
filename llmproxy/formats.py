"""What the LLM endpoints send back: /api/llm/*'s JSON and events, and OpenAI's.

OpenAI's bodies are the upstream's (or a Gemini answer translated), passed on with the
model named as the caller named it; the gateway only adds what is missing (usage it
estimated). Streams are Server-Sent Events. A failure after the first byte can no longer
change the HTTP status, so it arrives as a last `{"error": ...}` event, in each format's own
error shape.
"""

import json
from collections.abc import Iterator

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


def openai_body(*, call: ChatCall, result: ChatResult) -> dict:
    """The upstream's chat.completion, as the caller named the model, with usage."""
    body = result.reply.body
    body["model"] = call.model
    if not body.get("usage"):
        body["usage"] = result.usage.as_openai()
    return body


def openai_events(stream: ChatStream, *, call: ChatCall, include_usage: bool) -> Iterator[bytes]:
    """The upstream's chunks as they come, then [DONE].

    The gateway always asks the upstream for usage; the caller gets it only if it asked
    (`stream_options.include_usage`), from the upstream, or estimated when none came.
    """
    last, usage_sent = None, False
    try:
        for chunk in stream:
            chunk["model"] = call.model
            last = chunk
            if include_usage:
                usage_sent = usage_sent or bool(chunk.get("usage"))
            elif "usage" in chunk:
                del chunk["usage"]
                if not chunk.get("choices"):
                    continue
            yield sse(chunk)
    except UpstreamError as exc:
        error = gateway_error(exc)
        yield sse(openai_error_body(str(error.detail), error.detail.code, error.status_code))
        return
    finally:
        stream.close()
    if include_usage and not usage_sent:
        head = {key: last[key] for key in ("id", "object", "created", "model") if key in last}
        yield sse({**head, "choices": [], "usage": stream.usage.as_openai()})
    yield DONE


def embeddings_body(*, call: EmbeddingCall, result: EmbeddingResult) -> dict:
    body = result.embeddings.body
    body["model"] = call.model
    if not body.get("usage"):
        usage = result.usage
        body["usage"] = {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens}
    return body
