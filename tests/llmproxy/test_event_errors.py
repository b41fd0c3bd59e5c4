"""Every refused or failed LLM request records what went wrong as text a person reads in
a report ('code: field: message'), on both API families, never as a Python repr."""

import pytest

from tests.llmproxy.helpers import event_fields, post

pytestmark = pytest.mark.django_db

HI = [{"role": "user", "content": "Hi"}]
KNOWN = "Known models: backup, gated, gemini, google, solo, solo-alias."


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "/api/llm/completion",
            {"prompt": "Hi", "model": "gpt-9"},
            f"invalid: model: Unknown model 'gpt-9'. {KNOWN}",
        ),
        (
            "/api/llm/chat",
            {"messages": [{"role": "robot", "content": "x"}], "temperature": 3},
            "invalid: temperature: Ensure this value is less than or equal to 2.0.; "
            'messages.0.role: "robot" is not a valid choice.',
        ),
        ("/api/llm/completion", [1], "invalid: Invalid data. Expected a dictionary, but got list."),
        (
            "/v1/chat/completions",
            {"model": "gpt-9", "messages": HI},
            "model_not_found: The model 'gpt-9' does not exist: it is not a chat model of this "
            "gateway (GET /v1/models lists them).",
        ),
        (
            "/v1/chat/completions",
            {"model": "solo", "messages": [{"role": "user", "content": [{"type": 3}]}]},
            "invalid: messages.0.content.0.type: Must be a JSON string.",
        ),
        ("/v1/chat/completions", "[]", "invalid: Expected a JSON object."),
        (
            "/v1/chat/completions",
            {"model": "google", "messages": HI, "logit_bias": {"1": 1}},
            "unsupported_parameter: logit_bias: Gemini routes have no equivalent of `logit_bias`.",
        ),
    ],
)
def test_the_event_says_what_was_wrong_in_words(client, auth, fake, path, body, error):
    response = post(client, path, body, auth)
    assert 400 <= response.status_code < 500
    recorded = event_fields(response)["error"]
    assert recorded == error
    assert "ErrorDetail" not in recorded and "{" not in recorded
