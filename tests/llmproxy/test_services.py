"""The service layer without HTTP: a ChatStream settles usage and telemetry exactly once,
and always releases the upstream, however the stream ends."""

from django.http import HttpRequest

from accounts.budgets import Reservation
from accounts.identity import GatewayIdentity
from llmproxy.metering import Meter
from llmproxy.providers.datatypes import ChatRequest, ListStream, Usage
from llmproxy.routing import routing_table
from llmproxy.services import CallRecord, ChatCall, ChatStream, charge_to, estimate_usage
from telemetry.context import annotations

ASK = ChatRequest(
    {
        "messages": [{"role": "user", "content": "Say three words"}],
        "temperature": 0.3,
        "max_tokens": 9,
    }
)
USAGE = Usage(5, 3)


class RecordingStream(ListStream):
    """An in-memory upstream stream that remembers being closed."""

    closed = 0

    def close(self) -> None:
        self.closed += 1


def piece(text: str = "", finish: str | None = None, usage: Usage | None = None) -> dict:
    """A chat.completion.chunk with this text, finish reason and usage."""
    delta = {"content": text} if text else {}
    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        chunk = {"choices": [], "usage": usage.as_openai()}
    return chunk


def chat_stream(chunks: list[dict]):
    request, upstream = HttpRequest(), RecordingStream(chunks)
    record = CallRecord(ChatCall(model="solo", request=ASK, stream=True))
    record.route = routing_table().resolve("solo")
    record.meter = Meter(request, tokens=None, budget=Reservation())  # nothing reserved
    return ChatStream(request=request, record=record, upstream=upstream), upstream, request


THREE_WORDS = [piece("one"), piece(" two"), piece(" three", "stop"), piece(usage=USAGE)]


def test_finished_stream_records_upstream_usage_once():
    stream, upstream, request = chat_stream(THREE_WORDS)
    assert len(list(stream)) == 4
    assert stream.text == "one two three"
    stream.close()
    assert upstream.closed == 1
    fields = annotations(request)
    assert (fields["prompt_tokens"], fields["completion_tokens"]) == (5, 3)
    assert fields["tokens_estimated"] is False
    assert fields["target_service"] == "solo"


def test_stream_closed_mid_way_closes_upstream_and_estimates_what_was_sent():
    stream, upstream, request = chat_stream(THREE_WORDS)
    pieces = iter(stream)
    assert next(pieces) == THREE_WORDS[0]
    stream.close()
    assert upstream.closed == 1
    fields = annotations(request)
    assert fields["completion_tokens"] == estimate_usage(ASK.messages, len("one")).completion_tokens
    assert fields["tokens_estimated"] is True
    assert fields["extra"]["client_disconnected"] is True


def test_stream_closed_before_it_started_is_settled_too():
    stream, upstream, request = chat_stream(THREE_WORDS)
    stream.close()
    assert upstream.closed == 1
    assert annotations(request)["completion_tokens"] == 0


def test_usage_before_the_end_is_not_trusted_when_the_stream_is_cut_short():
    # Gemini-style cumulative usage arrives early; a disconnect makes it an estimate.
    early = {**piece("one"), "usage": USAGE.as_openai()}
    stream, _, request = chat_stream([early, piece(" two", "stop")])
    pieces = iter(stream)
    next(pieces)
    stream.close()
    assert annotations(request)["tokens_estimated"] is True


def test_default_identity_is_charged_as_the_body_says():
    default = GatewayIdentity(soeid="default_user", is_default=True)
    assert charge_to(identity=default, soeid="dana", project_name=None) == {
        "soeid": "dana",
        "project_name": "default_project",
    }
