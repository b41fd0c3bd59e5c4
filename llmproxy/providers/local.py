"""A stand-in for development when no upstream is configured: no network, no real model.

Every answer says so in plain words, so nobody mistakes it for a model's output.
"""

import time
import uuid

from llmproxy.providers.base import Provider
from llmproxy.providers.datatypes import (
    ChatRequest,
    ListStream,
    Reply,
    chunk_body,
    completion_body,
    text_of,
)

NOTICE = (
    "[dgen-ping local development provider: this is not a real model] "
    "No LLM upstream is configured (set API_ENDPOINT and MODEL, or LLM_ROUTES_FILE)."
)
ECHO_LIMIT = 200


class LocalProvider(Provider):
    def complete(self, request: ChatRequest) -> Reply:
        message = {"role": "assistant", "content": answer(request)}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        # No usage: the service estimates tokens and marks them estimated.
        return Reply(
            completion_body(id=_id(), model=self.route.model, choices=[choice], usage=None)
        )

    def stream(self, request: ChatRequest) -> ListStream:
        words = answer(request).split(" ")
        deltas = [{"role": "assistant", "content": ""}]
        deltas += [{"content": word if i == 0 else " " + word} for i, word in enumerate(words)]
        head = {"id": _id(), "model": self.route.model, "created": int(time.time())}
        chunks = [
            chunk_body(**head, choices=[{"index": 0, "delta": delta, "finish_reason": None}])
            for delta in deltas
        ]
        chunks.append(
            chunk_body(**head, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
        )
        return ListStream(chunks)


def answer(request: ChatRequest) -> str:
    said = next(
        (text_of(m.get("content")) for m in reversed(request.messages) if m["role"] == "user"), ""
    )
    if len(said) > ECHO_LIMIT:
        said = said[:ECHO_LIMIT] + "…"
    return f"{NOTICE} You said: {said}"


def _id() -> str:
    return f"chatcmpl-local-{uuid.uuid4().hex}"
