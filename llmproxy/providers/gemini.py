"""Google Gemini `generateContent` / `streamGenerateContent`, with an API key or OAuth."""

from urllib.parse import quote

from llmproxy.providers.base import ChatRequest, Delta, EventStream, Provider, Reply, Usage

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


class GeminiProvider(Provider):
    def complete(self, request: ChatRequest) -> Reply:
        response = self.post(self.url("generateContent"), gemini_body(request))
        return self.read_json(response, parse_reply)

    def stream(self, request: ChatRequest) -> EventStream:
        response = self.post(
            self.url("streamGenerateContent?alt=sse"), gemini_body(request), stream=True
        )
        return EventStream(response, parse_delta, self.route.timeout)

    def auth_headers(self, secret: str) -> dict:
        if self.credential.refreshable:
            return {"Authorization": f"Bearer {secret}"}
        # The header rather than ?key=: URLs end up in logs, headers do not.
        return {"x-goog-api-key": secret} if secret else {}

    def url(self, method: str) -> str:
        model = self.route.model.removeprefix("models/")
        return f"{self.route.base_url}/models/{quote(model)}:{method}"


def gemini_body(request: ChatRequest) -> dict:
    """Chat messages as Gemini contents: assistant → model, system → systemInstruction."""
    system = [m["content"] for m in request.messages if m["role"] == "system"]
    contents = [
        {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
        for m in request.messages
        if m["role"] != "system"
    ]
    body = {
        "contents": contents,
        "generationConfig": {
            "temperature": request.temperature,
            "maxOutputTokens": request.max_tokens,
        },
    }
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    return body


def parse_reply(body: dict) -> Reply:
    delta = parse_delta(body)
    return Reply(text=delta.text, finish_reason=delta.finish_reason or "stop", usage=delta.usage)


def parse_delta(body: dict) -> Delta:
    """One response (or stream chunk); a blocked prompt has no candidates at all."""
    candidates = body.get("candidates") or []
    if not candidates:
        blocked = (body.get("promptFeedback") or {}).get("blockReason")
        return Delta(finish_reason="content_filter" if blocked else None, usage=parse_usage(body))
    candidate = candidates[0]
    parts = (candidate.get("content") or {}).get("parts") or []
    # "thought" parts are the model's reasoning summary, not its answer.
    text = "".join(part.get("text", "") for part in parts if not part.get("thought"))
    return Delta(
        text=text,
        finish_reason=finish_reason(candidate.get("finishReason")),
        usage=parse_usage(body),
    )


def finish_reason(reason: str | None) -> str | None:
    if not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    if reason in FILTERED:
        return "content_filter"
    return FINISH_REASONS.get(reason, reason.lower())


def parse_usage(body: dict) -> Usage | None:
    """usageMetadata; thinking tokens are billed as output, so they count as completion."""
    usage = body.get("usageMetadata")
    if not usage:
        return None
    completion = int(usage.get("candidatesTokenCount") or 0) + int(
        usage.get("thoughtsTokenCount") or 0
    )
    cached = int(usage.get("cachedContentTokenCount") or 0)
    return Usage(int(usage.get("promptTokenCount") or 0), completion, cached_tokens=cached)
