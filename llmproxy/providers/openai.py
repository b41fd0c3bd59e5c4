"""OpenAI-compatible chat completions: OpenAI, Azure-style gateways, vLLM, Ollama, LiteLLM."""

from llmproxy.providers.base import ChatRequest, Delta, EventStream, Provider, Reply, Usage

ENDPOINT = "/chat/completions"


class OpenAIProvider(Provider):
    def complete(self, request: ChatRequest) -> Reply:
        response = self.post(self.url, self.body(request))
        return self.read_json(response, parse_reply)

    def stream(self, request: ChatRequest) -> EventStream:
        body = self.body(request)
        # include_usage: the upstream sends token counts at the end of the stream too.
        body.update(stream=True, stream_options={"include_usage": True})
        return EventStream(self.post(self.url, body, stream=True), parse_delta, self.route.timeout)

    @property
    def url(self) -> str:
        # Accept the base URL (".../v1") and the full endpoint URL alike.
        base = self.route.base_url
        return base if base.endswith(ENDPOINT) else base + ENDPOINT

    def body(self, request: ChatRequest) -> dict:
        return {
            "model": self.route.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }


def parse_reply(body: dict) -> Reply:
    choice = body["choices"][0]
    return Reply(
        text=choice["message"].get("content") or "",
        finish_reason=choice.get("finish_reason") or "stop",
        usage=parse_usage(body.get("usage")),
    )


def parse_delta(event: dict) -> Delta:
    """A chunk may carry text, the finish reason, usage, or several of them at once."""
    choices = event.get("choices") or []
    choice = choices[0] if choices else {}
    return Delta(
        text=(choice.get("delta") or {}).get("content") or "",
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(event.get("usage")),
    )


def parse_usage(usage: dict | None) -> Usage | None:
    if not usage:
        return None
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    return Usage(
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        cached_tokens=int(cached or 0),
    )
