"""Which scenarios a run selects, and what the compared gateways are sent."""

from bench import payloads, scenarios


def names(selected: list[scenarios.Scenario]) -> list[str]:
    return [scenario.name for scenario in selected]


def test_a_group_brings_the_direct_baselines_it_is_measured_against():
    assert names(scenarios.select(["portkey"])) == [
        "direct_plain",
        "direct_stream",
        "direct_slow",
        "portkey_chat_plain",
        "portkey_chat_stream",
        "portkey_chat_slow",
    ]


def test_a_skipped_peer_is_left_out_of_everything():
    selected = scenarios.select([], skip=frozenset({"portkey"}))

    assert {s.target for s in selected} == {"nginx", "slow", "gateway", "litellm"}


def test_each_compared_request_has_its_counterpart_on_each_peer():
    chat = scenarios.BY_NAME["gw_chat_stream"]

    assert chat.counterpart("portkey") == "portkey_chat_stream"
    assert chat.counterpart("litellm") == "litellm_chat_stream"
    assert scenarios.BY_NAME["gw_completion"].counterpart("portkey") == ""


def test_portkey_is_told_the_provider_and_the_fake_upstream_in_headers():
    context = scenarios.Context(nginx_url="http://127.0.0.1:1", slow_url="http://127.0.0.1:2")

    stream = scenarios.BY_NAME["portkey_chat_stream"].build(context)
    slow = scenarios.BY_NAME["portkey_chat_slow"].build(context)

    assert stream.path == "/v1/chat/completions"
    assert stream.headers["x-portkey-provider"] == "openai"
    assert stream.headers["x-portkey-custom-host"] == "http://127.0.0.1:1/stream/v1"
    assert stream.headers["Authorization"] == f"Bearer {payloads.UPSTREAM_KEY}"
    assert stream.expect == "data: [DONE]"
    assert slow.headers["x-portkey-custom-host"] == "http://127.0.0.1:2/plain/v1"


def test_every_proxied_scenario_counts_calls_on_its_own_upstream():
    upstream = {s.name: s.upstream for s in scenarios.SCENARIOS}

    assert upstream["portkey_chat_slow"] == "slow"
    assert upstream["litellm_chat_stream"] == "nginx"
    assert upstream["direct_plain"] == "nginx"
    assert upstream["gw_health"] == ""  # calls no upstream
