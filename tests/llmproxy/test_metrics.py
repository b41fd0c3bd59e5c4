"""What each LLM call adds to the metrics: OpenTelemetry's GenAI token usage, duration and
time to first chunk, and the upstream attempts that failed, were retried or fell back,
with the routing table's names as labels. Against the fake upstream, through every layer."""

import pytest

from llmproxy.metrics import model_label
from tests.llmproxy.helpers import events, post
from tests.samples import local, total

pytestmark = pytest.mark.django_db

COMPLETION = "/api/llm/completion"
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
TOKENS = "gen_ai_client_token_usage"
DURATION = "gen_ai_client_operation_duration_seconds"
FIRST_CHUNK = "gen_ai_client_operation_time_to_first_chunk_seconds"


class Delta:
    """The metrics' growth from now on: delta(name, **labels)."""

    def __init__(self):
        self.before = local()

    def __call__(self, name: str, **labels) -> float:
        return total(local(), name, **labels) - total(self.before, name, **labels)


@pytest.fixture
def bearer(user_token):
    return {"HTTP_AUTHORIZATION": f"Bearer {user_token}"}


def chat(client, bearer, **body):
    body = {"model": "gemini", "messages": [{"role": "user", "content": "Hi"}], **body}
    return post(client, CHAT, body, bearer)


def reported(fake, model: str, kind: str) -> int:
    return sum(seen.usage[kind] for seen in fake.requests_for(model) if seen.usage)


def test_token_usage_is_what_the_upstream_reported(client, fake, auth, bearer):
    fake.script("up-main", "usage:11:7", "usage:20:30", "usage:5:9")
    fake.script("up-vectors", "usage:13:0")
    delta = Delta()
    assert post(client, COMPLETION, {"prompt": "Hi"}, auth).status_code == 200
    assert chat(client, bearer).status_code == 200
    streamed = chat(client, bearer, stream=True)
    events(streamed)  # the whole stream, as a client reads it
    embedding = {"model": "vectors", "input": ["one", "two"]}
    assert post(client, EMBEDDINGS, embedding, bearer).status_code == 200
    chat_labels = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "gemini"}
    chat_labels["gen_ai_provider_name"] = "openai"
    assert delta(f"{TOKENS}_sum", **chat_labels, gen_ai_token_type="input") == 11 + 20 + 5
    assert delta(f"{TOKENS}_sum", **chat_labels, gen_ai_token_type="output") == 7 + 30 + 9
    assert delta(f"{TOKENS}_count", **chat_labels, gen_ai_token_type="input") == 3
    embeddings = {"gen_ai_operation_name": "embeddings", "gen_ai_request_model": "vectors"}
    assert delta(f"{TOKENS}_sum", **embeddings, gen_ai_token_type="input") == 13
    assert delta(f"{TOKENS}_count", **embeddings, gen_ai_token_type="output") == 0
    assert delta(f"{TOKENS}_sum", gen_ai_token_type="input") == reported(
        fake, "up-main", "prompt_tokens"
    ) + reported(fake, "up-vectors", "prompt_tokens")
    assert delta(f"{DURATION}_count", **chat_labels, error_type="") == 3


def test_time_to_first_chunk_is_observed_for_streams_only(client, fake, bearer):
    fake.script("up-main", "drip:0.05")
    delta = Delta()
    chat(client, bearer)
    response = chat(client, bearer, stream=True)
    events(response)
    assert delta(f"{FIRST_CHUNK}_count") == 1
    first_chunk, whole = delta(f"{FIRST_CHUNK}_sum"), delta(f"{DURATION}_sum")
    assert 0 < first_chunk < whole  # 40 pieces 50 ms apart after the first


def test_a_retry_counts_the_failed_attempt_and_the_retry(client, fake, auth):
    fake.script("up-solo", "500")
    delta = Delta()
    assert post(client, COMPLETION, {"prompt": "x", "model": "solo"}, auth).status_code == 200
    route = {"gen_ai_provider_name": "openai", "llm_route": "solo"}
    assert delta("dgen_ping_upstream_errors_total", **route, error_type="upstream_unavailable") == 1
    assert delta("dgen_ping_upstream_retries_total", **route) == 1
    assert delta("dgen_ping_upstream_fallbacks_total") == 0
    assert delta(f"{DURATION}_count", gen_ai_request_model="solo", error_type="") == 1


def test_a_fallback_counts_each_failure_and_the_move(client, fake, auth):
    fake.always("up-main", "503")
    delta = Delta()
    assert post(client, COMPLETION, {"prompt": "Hi"}, auth).status_code == 200
    main = {"gen_ai_provider_name": "openai", "llm_route": "gemini"}
    assert delta("dgen_ping_upstream_errors_total", **main) == 2  # the attempt and its retry
    assert delta("dgen_ping_upstream_retries_total", **main) == 1
    assert delta("dgen_ping_upstream_fallbacks_total", **main, fallback_route="backup") == 1
    # The route that answered is the one the usage is counted under.
    backup = fake.requests_for("up-backup")[0].usage["prompt_tokens"]
    answered = {"gen_ai_provider_name": "gemini", "gen_ai_token_type": "input"}
    assert delta(f"{TOKENS}_sum", **answered) == backup


def test_a_failed_call_has_its_error_type_and_no_usage(client, fake, auth):
    fake.always("up-main", "503")
    fake.always("up-backup", "503")
    delta = Delta()
    assert post(client, COMPLETION, {"prompt": "Hi"}, auth).status_code == 502
    assert delta(f"{DURATION}_count", error_type="upstream_unavailable") == 1
    assert delta(f"{TOKENS}_count") == 0
    assert delta("dgen_ping_upstream_errors_total") == 4  # two routes, two attempts each


def test_a_stream_the_upstream_breaks_counts_as_a_failed_attempt(client, fake, bearer):
    fake.script("up-main", "cut")
    delta = Delta()
    response = chat(client, bearer, stream=True)
    b"".join(response.streaming_content)  # the client reads what came, until the break
    main = {"gen_ai_provider_name": "openai", "llm_route": "gemini"}
    assert delta("dgen_ping_upstream_errors_total", **main, error_type="upstream_unavailable") == 1
    assert delta(f"{DURATION}_count", error_type="upstream_unavailable") == 1
    assert delta(f"{FIRST_CHUNK}_count") == 1  # a piece or two came first


def test_a_call_refused_before_any_upstream_attempt_is_not_an_llm_call(client, fake, auth, caplog):
    from accounts.services import set_budget

    set_budget(scope="soeid", subject="alice", period="day", token_limit=10)
    delta = Delta()
    assert post(client, COMPLETION, {"prompt": "Hi", "max_tokens": 50}, auth).status_code == 429
    assert not fake.seen
    assert delta(f"{DURATION}_count") == 0 and delta(f"{TOKENS}_count") == 0
    assert "Could not record" not in caplog.text


def test_models_outside_the_routing_table_are_other():
    assert model_label("solo-alias") == "solo-alias"  # an alias is a name clients use
    assert model_label("gemini") == "gemini"
    assert model_label("gpt-made-up-by-a-client") == "other"


def test_tokens_per_soeid_only_when_asked_for(client, fake, auth, settings):
    fake.script("up-main", "usage:3:4", "usage:5:6")
    delta = Delta()
    post(client, COMPLETION, {"prompt": "Hi"}, auth)
    assert delta("dgen_ping_soeid_tokens_total") == 0
    settings.METRICS = {**settings.METRICS, "SOEID_LABEL": True}
    post(client, COMPLETION, {"prompt": "Hi"}, auth)
    assert delta("dgen_ping_soeid_tokens_total", soeid="alice", gen_ai_token_type="input") == 5
    assert delta("dgen_ping_soeid_tokens_total", soeid="alice", gen_ai_token_type="output") == 6
