"""Small helpers the llmproxy tests share."""

import json

from llmproxy.providers.datatypes import ChatRequest, Usage
from llmproxy.routing import routing_table
from telemetry.context import annotations

HELLO = ChatRequest(
    {"messages": [{"role": "user", "content": "Hello there"}], "temperature": 0.3, "max_tokens": 50}
)


def provider(route_name: str):
    table = routing_table()
    return table.provider(table.resolve(route_name))


def post(client, path: str, body: dict, headers: dict):
    return client.post(path, body, content_type="application/json", **headers)


def events(response) -> list:
    """The data of each Server-Sent Event of a streamed response, JSON decoded."""
    raw = b"".join(response.streaming_content).decode()
    return [
        chunk.removeprefix("data: ") if chunk == "data: [DONE]" else json.loads(chunk[6:])
        for chunk in raw.split("\n\n")
        if chunk
    ]


def event_fields(response) -> dict:
    """The telemetry fields the views annotated on the request behind `response`."""
    return annotations(response.wsgi_request)


def reported(seen) -> Usage:
    """The usage the fake upstream reported for one request, as the gateway reads it."""
    usage = seen.usage
    return Usage(
        usage["prompt_tokens"],
        usage["completion_tokens"],
        cached_tokens=usage["cached_tokens"],
        reasoning_tokens=usage["reasoning_tokens"],
    )


def chunk_text(chunks: list[dict]) -> str:
    """The first choice's text in a list of chat.completion.chunk bodies."""
    return "".join(
        choice["delta"].get("content") or ""
        for chunk in chunks
        for choice in chunk.get("choices") or ()
        if choice.get("index", 0) == 0
    )


def chunk_usages(chunks: list[dict]) -> list[Usage]:
    return [Usage.from_openai(chunk["usage"]) for chunk in chunks if chunk.get("usage")]


def finish_reasons(chunks: list[dict]) -> list[str]:
    return [
        choice["finish_reason"]
        for chunk in chunks
        for choice in chunk.get("choices") or ()
        if choice.get("finish_reason")
    ]
