"""OpenAI-compatible APIs (OpenAI, Azure-style gateways, vLLM, Ollama, LiteLLM): a pass-through.

The request goes upstream as the client sent it, with the route's model name; every field,
including ones newer than this code, is the upstream's to judge. Streams always ask for usage
(the gateway counts every token); the answer comes back as the upstream sent it.
"""

from llmproxy.errors import UpstreamBadResponse
from llmproxy.providers.base import Provider
from llmproxy.providers.datatypes import (
    ChatRequest,
    ChunkStream,
    EmbeddingRequest,
    Embeddings,
    Reply,
)

CHAT_PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"


class OpenAIProvider(Provider):
    def complete(self, request: ChatRequest) -> Reply:
        body = {**request.body, "model": self.route.model}
        answer = self.transport.post_json(self.url(CHAT_PATH), body)
        return Reply(expect_list(answer, "choices"))

    def stream(self, request: ChatRequest) -> ChunkStream:
        options = {**(request.body.get("stream_options") or {}), "include_usage": True}
        body = {**request.body, "model": self.route.model, "stream": True}
        body["stream_options"] = options
        return self.transport.open_events(self.url(CHAT_PATH), body)

    def embed(self, request: EmbeddingRequest) -> Embeddings:
        body = {**request.body, "model": self.route.model}
        answer = self.transport.post_json(self.url(EMBEDDINGS_PATH), body)
        return Embeddings(expect_list(answer, "data"))

    def url(self, path: str) -> str:
        # Accept the base URL (".../v1") and the full endpoint URL alike.
        base = self.route.base_url
        return base if base.endswith(path) else base + path


def expect_list(body: dict, key: str) -> dict:
    """`body`, once it has the list an answer cannot do without."""
    if not isinstance(body.get(key), list):
        raise UpstreamBadResponse("The upstream sent a response the gateway cannot read.")
    return body
