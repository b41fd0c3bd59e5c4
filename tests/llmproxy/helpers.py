"""Small helpers the llmproxy tests share."""

import json

from llmproxy.providers.base import ChatRequest
from llmproxy.routing import routing_table
from telemetry.context import annotations

HELLO = ChatRequest([{"role": "user", "content": "Hello there"}], temperature=0.3, max_tokens=50)


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
