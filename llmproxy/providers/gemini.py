"""Google Gemini: generateContent, streamGenerateContent, embedContent and
batchEmbedContents, with an API key or OAuth. The translations are gemini_request (OpenAI's
request → Gemini's) and gemini_reply (Gemini's answer → OpenAI's)."""

from urllib.parse import quote

from llmproxy.providers import gemini_reply, gemini_request
from llmproxy.providers.base import Provider
from llmproxy.providers.datatypes import (
    ChatRequest,
    ChunkStream,
    EmbeddingRequest,
    Embeddings,
    Reply,
    embeddings_body,
)
from llmproxy.providers.transport import bearer, unreadable_is_bad_response


class GeminiProvider(Provider):
    def complete(self, request: ChatRequest) -> Reply:
        body = gemini_request.generate_content_body(request)
        answer = self.transport.post_json(self.url("generateContent"), body)
        with unreadable_is_bad_response():
            return Reply(gemini_reply.completion(answer, self.route.model))

    def stream(self, request: ChatRequest) -> ChunkStream:
        body = gemini_request.generate_content_body(request)
        events = self.transport.open_events(self.url("streamGenerateContent?alt=sse"), body)
        return gemini_reply.Chunks(events, self.route.model)

    def embed(self, request: EmbeddingRequest) -> Embeddings:
        requests = gemini_request.embed_requests(request, self.model)
        if isinstance(request.body["input"], str):
            answer = self.transport.post_json(self.url("embedContent"), requests[0])
            with unreadable_is_bad_response():
                vectors = [answer["embedding"]["values"]]
        else:
            body = {"requests": requests}
            answer = self.transport.post_json(self.url("batchEmbedContents"), body)
            with unreadable_is_bad_response():
                vectors = [item["values"] for item in answer["embeddings"]]
        encoding = request.body.get("encoding_format")
        return Embeddings(embeddings_body(vectors, self.route.model, encoding))

    def auth_headers(self, secret: str) -> dict:
        if self.transport.credential.refreshable:
            return bearer(secret)
        # The header rather than ?key=: URLs end up in logs, headers do not.
        return {"x-goog-api-key": secret} if secret else {}

    @property
    def model(self) -> str:
        return self.route.model.removeprefix("models/")

    def url(self, method: str) -> str:
        return f"{self.route.base_url}/models/{quote(self.model)}:{method}"
