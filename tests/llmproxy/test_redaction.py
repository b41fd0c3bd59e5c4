"""An upstream that quotes the request back, credentials included: whatever the prompt's
length, no piece of the credential reaches the caller or the telemetry event.

Upstream messages are cut to ERROR_MESSAGE_LIMIT characters. Were they cut before being
redacted, a prompt of the right length would place the cut inside the key and leave its
first characters, too few to be recognised, in the answer: so every offset across the cut
is tried, over HTTP, with the fake upstream echoing.
"""

import pytest

from llmproxy.errors import REDACTED, redact
from llmproxy.providers.transport import ERROR_MESSAGE_LIMIT
from tests.fake_upstream import FakeUpstream
from tests.llmproxy.helpers import event_fields, post

pytestmark = pytest.mark.django_db

KEY = "sk-live-0123456789abcdefghijklmnop"
# What the fake says around the prompt it quotes (tests/fake_upstream.py, 400:echo_prompt).
BEFORE_PROMPT = "Could not process "
BEFORE_KEY = " (request authenticated as "
SHORTEST_LEAK = 4  # characters of the key that would already be a leak


@pytest.fixture(scope="module")
def echoing():
    with FakeUpstream(api_keys=[KEY]) as fake:
        yield fake


@pytest.fixture
def keyed(llm, echoing):
    echoing.reset()
    route = {"base_url": echoing.openai_url, "model": "up-echo", "api_key": KEY, "retries": 0}
    llm({"gemini": route})
    return echoing


def prompt_putting_the_key_at(offset: int) -> str:
    """A prompt after which the echoed key starts at `offset` of the upstream's message."""
    return "p" * (offset - len(BEFORE_PROMPT) - len(BEFORE_KEY))


def leaked(text: str) -> str | None:
    """The longest beginning of the key found in `text`."""
    for length in range(len(KEY), SHORTEST_LEAK - 1, -1):
        if KEY[:length] in text:
            return KEY[:length]
    return None


@pytest.mark.parametrize(
    "offset", range(ERROR_MESSAGE_LIMIT - len(KEY) - 1, ERROR_MESSAGE_LIMIT + 2)
)
def test_no_piece_of_the_key_survives_wherever_the_cut_falls(client, auth, keyed, offset):
    keyed.script("up-echo", "400:echo_prompt")
    body = {"model": "gemini", "messages": [{"role": "user", "content": ""}]}
    body["messages"][0]["content"] = prompt_putting_the_key_at(offset)
    response = post(client, "/v1/chat/completions", body, auth)
    assert response.status_code == 400
    assert keyed.seen[-1].key == KEY  # the upstream was called with it, and quoted it
    message = response.json()["error"]["message"]
    assert message.startswith("The upstream rejected the request: Could not process ppp")
    assert leaked(message) is None
    assert leaked(event_fields(response)["error"]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {KEY} and {KEY}!", f"key {REDACTED} and {REDACTED}!"),
        # An upstream that cut its own echo short leaves the key's beginning at the end.
        (f"key {KEY[:12]}", f"key {REDACTED}"),
        (f"key {KEY[:3]}", f"key {KEY[:3]}"),  # three characters are no secret
        ("nothing secret", "nothing secret"),
    ],
)
def test_redaction(text, expected):
    assert redact(text, [KEY, "", "abc"]) == expected


def test_a_secret_containing_another_is_replaced_whole():
    inner = KEY[8:20]
    assert redact(f"[{KEY}]", [inner, KEY]) == f"[{REDACTED}]"
