"""Fixed bodies: what the fake upstreams answer and what the load generator sends.

The answers are small and constant so the upstream costs next to nothing and every
figure measured through the gateway is the gateway's own cost.
"""

import json

FAKE_TEXT = "Fake upstream answer for dgen-ping benchmarks."
UPSTREAM_MODEL = "fake-model"
UPSTREAM_KEY = "sk-bench-upstream-key"  # the fake upstreams accept any key
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}

# Model names the gateway's route table (and LiteLLM's config) expose.
MODEL_PLAIN = "bench-plain"
MODEL_STREAM = "bench-stream"
MODEL_SLOW = "bench-slow"


def _compact(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))


def chat_completion() -> str:
    """An OpenAI `chat.completion` with `usage`."""
    return _compact(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": UPSTREAM_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": FAKE_TEXT},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    )


def _chunk(delta: dict, finish_reason: str | None = None, usage: dict | None = None) -> str:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": UPSTREAM_MODEL,
        "choices": choices,
    }
    if usage:
        body["usage"] = usage
    return f"data: {_compact(body)}\n\n"


def chat_completion_stream() -> str:
    """An OpenAI SSE stream: role, several content chunks, finish, usage, [DONE]."""
    words = FAKE_TEXT.split(" ")
    parts = [_chunk({"role": "assistant", "content": ""})]
    parts += [_chunk({"content": word if i == 0 else " " + word}) for i, word in enumerate(words)]
    parts.append(_chunk({}, finish_reason="stop"))
    parts.append(_chunk({}, usage=USAGE))
    parts.append("data: [DONE]\n\n")
    return "".join(parts)


def gemini_generate_content() -> str:
    """A Gemini `generateContent` answer with `usageMetadata`."""
    return _compact(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": FAKE_TEXT}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": USAGE["prompt_tokens"],
                "candidatesTokenCount": USAGE["completion_tokens"],
                "totalTokenCount": USAGE["total_tokens"],
            },
            "modelVersion": UPSTREAM_MODEL,
        }
    )


def gemini_stream() -> str:
    """Gemini `streamGenerateContent?alt=sse`: one event per word, then finish and usage."""
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": word + " "}]}}]}
        for word in FAKE_TEXT.split(" ")
    ]
    final = json.loads(gemini_generate_content())
    final["candidates"][0]["content"]["parts"] = [{"text": ""}]
    events.append(final)
    return "".join(f"data: {_compact(event)}\n\n" for event in events)


def readme_completion_request() -> str:
    """The README's /api/llm/completion example body, unchanged."""
    return _compact(
        {
            "soeid": "default_user",
            "project_name": "default_project",
            "prompt": "Hello, how are you?",
            "model": "gemini",
            "temperature": 0.3,
            "max_tokens": 10000,
        }
    )


def chat_request(model: str, stream: bool = False) -> str:
    """An OpenAI chat request as SDKs send it."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Hello, how are you?"}],
        "temperature": 0.3,
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    return _compact(body)
