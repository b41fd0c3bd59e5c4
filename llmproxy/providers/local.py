"""A stand-in for development when no upstream is configured: no network, no real model.

Every chat answer says so in plain words, so nobody mistakes it for a model's output. Its
embeddings are hashes, not meaning: the same input always gets the same vector, which is
enough for code that stores and compares them to run offline.
"""

import hashlib
import json
import time
import uuid

from llmproxy.providers.base import Provider
from llmproxy.providers.datatypes import (
    ChatRequest,
    EmbeddingRequest,
    Embeddings,
    ListStream,
    Reply,
    chunk_body,
    completion_body,
    embeddings_body,
    text_of,
)

NOTICE = (
    "[dgen-ping local development provider: this is not a real model] "
    "No LLM upstream is configured (set API_ENDPOINT and MODEL, or LLM_ROUTES_FILE)."
)
ECHO_LIMIT = 200
# The length of the local provider's vectors, unless the request asks for `dimensions`.
DIMENSIONS = 16


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

    def embed(self, request: EmbeddingRequest) -> Embeddings:
        size = request.body.get("dimensions") or DIMENSIONS
        vectors = [hashed_vector(item, size) for item in request.inputs]
        # No usage: the service estimates tokens and marks them estimated.
        encoding = request.body.get("encoding_format")
        return Embeddings(embeddings_body(vectors, self.route.model, encoding))


def answer(request: ChatRequest) -> str:
    said = next(
        (text_of(m.get("content")) for m in reversed(request.messages) if m["role"] == "user"), ""
    )
    if len(said) > ECHO_LIMIT:
        said = said[:ECHO_LIMIT] + "…"
    return f"{NOTICE} You said: {said}"


def hashed_vector(item, size: int) -> list[float]:
    """`size` numbers in [-1, 1] drawn from a hash of the input (text or token ids)."""
    digest = hashlib.shake_256(json.dumps(item).encode()).digest(size)
    return [round(byte / 127.5 - 1, 6) for byte in digest]


def _id() -> str:
    return f"chatcmpl-local-{uuid.uuid4().hex}"
