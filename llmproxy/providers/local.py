"""A stand-in for development when no upstream is configured: no network, no real model.

Every answer says so in plain words, so nobody mistakes it for a model's output.
"""

from llmproxy.providers.base import ChatRequest, Delta, ListStream, Provider, Reply

NOTICE = (
    "[dgen-ping local development provider: this is not a real model] "
    "No LLM upstream is configured (set API_ENDPOINT and MODEL, or LLM_ROUTES_FILE)."
)
ECHO_LIMIT = 200


class LocalProvider(Provider):
    def complete(self, request: ChatRequest) -> Reply:
        # usage None: the service estimates tokens and marks them estimated.
        return Reply(text=answer(request), finish_reason="stop", usage=None)

    def stream(self, request: ChatRequest) -> ListStream:
        words = answer(request).split(" ")
        deltas = [Delta(text=word if i == 0 else " " + word) for i, word in enumerate(words)]
        return ListStream([*deltas, Delta(finish_reason="stop")])


def answer(request: ChatRequest) -> str:
    said = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")
    if len(said) > ECHO_LIMIT:
        said = said[:ECHO_LIMIT] + "…"
    return f"{NOTICE} You said: {said}"
