"""Gemini answers as OpenAI ones: chat completions and stream chunks (embeddings:
llmproxy.providers.datatypes.embeddings_body).

Candidates become choices; text parts the content (thought parts are the model's reasoning,
counted in usage, not shown); function calls tool calls; usageMetadata usage, with cached and
thinking tokens as OpenAI's usage details; logprobsResult logprobs.
"""

import json
import time
import uuid
from collections.abc import Iterator

from llmproxy.providers.datatypes import Usage, chunk_body, completion_body

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def completion(body: dict, model: str) -> dict:
    """A generateContent response as a `chat.completion` body."""
    candidates = body.get("candidates") or []
    choices = [_choice(candidate, number) for number, candidate in enumerate(candidates)]
    if not choices:
        message = {"role": "assistant", "content": None}
        choices = [{"index": 0, "message": message, "finish_reason": _blocked(body) or "stop"}]
    return completion_body(id=_id(body), model=model, choices=choices, usage=usage_of(body))


def _choice(candidate: dict, number: int) -> dict:
    text, calls = _read_parts(candidate)
    message = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    choice = {
        "index": candidate.get("index", number),
        "message": message,
        "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)) or "stop",
    }
    if candidate.get("logprobsResult"):
        choice["logprobs"] = logprobs(candidate["logprobsResult"])
    return choice


def _read_parts(candidate: dict, first_call: int | None = None) -> tuple[str, list[dict]]:
    """(answer text, tool calls) of a candidate. In a stream, calls are numbered from
    `first_call` (their `index`), as OpenAI numbers them across a stream's chunks."""
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(part.get("text", "") for part in parts if not part.get("thought"))
    calls = [_tool_call(part) for part in parts if "functionCall" in part]
    if first_call is not None:
        calls = [{"index": first_call + n, **call} for n, call in enumerate(calls)]
    return text, calls


def _tool_call(part: dict) -> dict:
    call = part["functionCall"]
    tool_call = {
        "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call["name"], "arguments": json.dumps(call.get("args") or {})},
    }
    if part.get("thoughtSignature"):
        # Gemini wants it back with the call on the next turn; clients keep this key.
        tool_call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return tool_call


def finish_reason(reason: str | None, called: bool = False) -> str | None:
    if not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    if reason in FILTERED:
        return "content_filter"
    if reason == "STOP" and called:
        return "tool_calls"
    return FINISH_REASONS.get(reason, reason.lower())


def _blocked(body: dict) -> str | None:
    """A prompt Gemini refused to answer has no candidates, only a block reason."""
    return "content_filter" if (body.get("promptFeedback") or {}).get("blockReason") else None


def logprobs(result: dict) -> dict:
    """logprobsResult as OpenAI's choice logprobs."""
    top = result.get("topCandidates") or []
    content = []
    for number, chosen in enumerate(result.get("chosenCandidates") or []):
        alternatives = (top[number] if number < len(top) else {}).get("candidates") or []
        entry = _token(chosen)
        entry["top_logprobs"] = [_token(alternative) for alternative in alternatives]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token(candidate: dict) -> dict:
    token = candidate.get("token", "")
    return {
        "token": token,
        "logprob": candidate.get("logProbability", 0.0),
        "bytes": list(token.encode()),
    }


def usage_of(body: dict) -> Usage | None:
    """usageMetadata; thinking tokens are billed as output, so they count as completion."""
    usage = body.get("usageMetadata")
    if not usage:
        return None
    thoughts = usage.get("thoughtsTokenCount")
    cached = usage.get("cachedContentTokenCount")
    return Usage(
        int(usage.get("promptTokenCount") or 0),
        int(usage.get("candidatesTokenCount") or 0) + int(thoughts or 0),
        cached_tokens=None if cached is None else int(cached),
        reasoning_tokens=None if thoughts is None else int(thoughts),
    )


def _id(body: dict) -> str:
    return f"chatcmpl-{body.get('responseId') or uuid.uuid4().hex}"


class Chunks:
    """streamGenerateContent events as `chat.completion.chunk` bodies.

    Gemini repeats the usage so far on every event; only the last is final, so it goes out
    once, in a last chunk without choices, as OpenAI sends it (and only if the stream ended).
    """

    def __init__(self, events, model: str):
        self._events = events
        self._model = model
        self._head = None
        self._seen: dict[int, dict] = {}  # per candidate: role sent, tool calls so far
        self._usage = None

    def __iter__(self) -> Iterator[dict]:
        for event in self._events:
            self._usage = usage_of(event) or self._usage
            choices = self._choices(event)
            if choices:
                yield chunk_body(**self._header(event), choices=choices)
        if self._usage is not None and self._head is not None:
            yield chunk_body(**self._head, choices=[], usage=self._usage)

    def close(self) -> None:
        self._events.close()

    def _header(self, event: dict) -> dict:
        if self._head is None:
            self._head = {"id": _id(event), "model": self._model, "created": int(time.time())}
        return self._head

    def _choices(self, event: dict) -> list[dict]:
        candidates = event.get("candidates") or []
        if not candidates:
            blocked = _blocked(event)
            return [{"index": 0, "delta": {}, "finish_reason": blocked}] if blocked else []
        return [self._choice(candidate, number) for number, candidate in enumerate(candidates)]

    def _choice(self, candidate: dict, number: int) -> dict:
        index = candidate.get("index", number)
        seen = self._seen.setdefault(index, {"calls": 0})
        text, calls = _read_parts(candidate, seen["calls"])
        seen["calls"] += len(calls)
        delta = {} if seen.get("role") else {"role": "assistant"}
        seen["role"] = True
        if text:
            delta["content"] = text
        if calls:
            delta["tool_calls"] = calls
        reason = finish_reason(candidate.get("finishReason"), seen["calls"] > 0)
        choice = {"index": index, "delta": delta, "finish_reason": reason}
        if candidate.get("logprobsResult"):
            choice["logprobs"] = logprobs(candidate["logprobsResult"])
        return choice
