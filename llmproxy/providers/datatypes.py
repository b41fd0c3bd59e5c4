"""What providers, services and formats hand each other: OpenAI's wire shapes, as dicts.

OpenAI's Chat Completions and Embeddings bodies are the gateway's one internal format. A
request body from /v1 reaches an OpenAI-compatible upstream as it came (only `model` and the
streaming fields are the gateway's); a Gemini route translates it both ways; the /api/llm/*
endpoints build one from their own fields. The classes below wrap those dicts without copying
them, and read what the gateway itself needs (text, finish reason, usage) on demand.
"""

import base64
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """Token counts; cached and reasoning tokens are None when the upstream did not say."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    cached_tokens: int | None = None  # of prompt_tokens, served from the upstream's cache
    reasoning_tokens: int | None = None  # of completion_tokens, spent thinking

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: dict | None) -> "Usage | None":
        """OpenAI's `usage` object (None when absent or empty)."""
        if not usage:
            return None
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        return cls(
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            cached_tokens=_count(prompt_details.get("cached_tokens")),
            reasoning_tokens=_count(completion_details.get("reasoning_tokens")),
        )

    def as_openai(self) -> dict:
        """This usage as OpenAI's `usage` object, details only when known."""
        usage = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return usage


def _count(value) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class ChatRequest:
    """An OpenAI Chat Completions request body. Its `model`, `stream` and `stream_options`
    are not the upstream's to see as sent: the route and the call decide them."""

    body: dict

    @property
    def messages(self) -> list[dict]:
        return self.body["messages"]

    @property
    def temperature(self) -> float | None:
        return self.body.get("temperature")

    @property
    def max_tokens(self) -> int | None:
        return self.body.get("max_completion_tokens") or self.body.get("max_tokens")


@dataclass(frozen=True)
class Reply:
    """A whole answer: an OpenAI `chat.completion` body."""

    body: dict

    @property
    def choice(self) -> dict:
        choices = self.body.get("choices") or [{}]
        return choices[0]

    @property
    def text(self) -> str:
        return (self.choice.get("message") or {}).get("content") or ""

    @property
    def finish_reason(self) -> str:
        return self.choice.get("finish_reason") or "stop"

    @property
    def usage(self) -> Usage | None:
        return Usage.from_openai(self.body.get("usage"))

    @property
    def tool_calls(self) -> int:
        """Tool calls the model asked for, over every choice."""
        return sum(
            len((choice.get("message") or {}).get("tool_calls") or ())
            for choice in self.body.get("choices") or ()
        )


class ChunkStream:
    """A streamed answer as OpenAI `chat.completion.chunk` bodies; close() releases the
    upstream connection."""

    def __iter__(self) -> Iterator[dict]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop reading; safe to call more than once."""


class ListStream(ChunkStream):
    """Chunks already in memory (the local provider)."""

    def __init__(self, chunks: list[dict]):
        self._chunks = chunks

    def __iter__(self) -> Iterator[dict]:
        return iter(self._chunks)


@dataclass(frozen=True)
class EmbeddingRequest:
    """An OpenAI Embeddings request body; its `model` is the route's to decide."""

    body: dict

    @property
    def inputs(self) -> list:
        """The input as a list: one string (or token list) per vector asked for."""
        value = self.body["input"]
        if isinstance(value, str) or (value and isinstance(value[0], int)):
            return [value]
        return value


@dataclass(frozen=True)
class Embeddings:
    """Vectors: an OpenAI embeddings `list` body."""

    body: dict

    @property
    def usage(self) -> Usage | None:
        usage = self.body.get("usage")
        if not usage:
            return None
        return Usage(int(usage.get("prompt_tokens") or 0), 0)


# --- Building OpenAI bodies (for upstreams that do not speak OpenAI) ---------------------------


def text_of(content) -> str:
    """The text of a message's content: a string, or the text of its content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return ""


def completion_body(*, id: str, model: str, choices: list[dict], usage: Usage | None) -> dict:  # noqa: A002
    body = {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage.as_openai()
    return body


def chunk_body(*, id: str, model: str, created: int, choices: list[dict], usage=None) -> dict:  # noqa: A002
    body = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage.as_openai()
    return body


def embeddings_body(vectors: list[list[float]], model: str, encoding_format: str | None) -> dict:
    """Vectors as an OpenAI embeddings `list`, without usage (the upstream reported none)."""
    encode = _base64 if encoding_format == "base64" else list
    data = [
        {"object": "embedding", "index": number, "embedding": encode(vector)}
        for number, vector in enumerate(vectors)
    ]
    return {"object": "list", "data": data, "model": model}


def _base64(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector as little-endian float32s."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
