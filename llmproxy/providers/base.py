"""The provider contract: what the gateway asks of the client of one upstream API.

A provider speaks one upstream wire format for one route, in OpenAI's shapes on the gateway's
side (llmproxy.providers.datatypes). It raises UpstreamError, never an HTTP client's
exception, so the router can retry, fall back and answer the caller uniformly; and it refuses
a request field its upstream cannot honour (UnsupportedParameter) rather than drop it.
"""

from llmproxy.providers.datatypes import (
    ChatRequest,
    ChunkStream,
    EmbeddingRequest,
    Embeddings,
    Reply,
)
from llmproxy.providers.transport import Transport, bearer


class Provider:
    """Client of one upstream API for one route (llmproxy.routing.Route)."""

    def __init__(self, route, credential, pool):
        self.route = route
        self.transport = Transport(route, credential, pool, self.auth_headers)

    def complete(self, request: ChatRequest) -> Reply:
        """The whole answer in one call; raises UpstreamError."""
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> ChunkStream:
        """Opens a streamed answer (failures to start raise here); iterate it, then close() it."""
        raise NotImplementedError

    def embed(self, request: EmbeddingRequest) -> Embeddings:
        """One vector per input; raises UpstreamError. Only for routes of kind `embedding`."""
        raise NotImplementedError

    def auth_headers(self, secret: str) -> dict:
        """Headers that present `secret` (API key or OAuth token) the way this upstream wants."""
        return bearer(secret)
