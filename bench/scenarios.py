"""What is measured: each scenario is one request sent to one target at some concurrencies.

Targets: "nginx" and "slow" (the fake upstreams, called directly: the baselines),
"gateway" (dgen-ping under gunicorn) and "litellm" (LiteLLM's proxy). A gateway or LiteLLM
scenario names its `baseline`, the direct call it adds to (for added latency and the share
of direct throughput), and a gateway scenario names its LiteLLM `counterpart`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from bench import payloads
from bench.load import Request

MAIN = "main"  # the --concurrency list (1, 16, 64)
SLOW = "slow"  # the --slow-concurrency list (64, 256)


@dataclass(frozen=True)
class Credentials:
    gateway_token: str = ""
    token_secret: str = ""
    litellm_key: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str
    title: str
    concurrency: str | tuple[int, ...]
    build: Callable[[Credentials], Request]
    baseline: str = ""
    counterpart: str = ""
    streamed: bool = False
    recorded: bool = True  # the gateway writes a telemetry event per request (not /health)


def _chat(path: str, model: str, stream: bool = False, auth: str = "") -> Request:
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    expect = "data: [DONE]" if stream else payloads.FAKE_TEXT
    return Request("POST", path, payloads.chat_request(model, stream), headers, expect)


def _generate_token(creds: Credentials) -> Request:
    headers = {"X-Token-Secret": creds.token_secret}
    return Request("POST", "/generate-token", '{"soeid":"bench_user"}', headers, '"token"')


def _completion(creds: Credentials) -> Request:
    body = payloads.readme_completion_request()
    headers = {"X-API-Token": creds.gateway_token}
    return Request("POST", "/api/llm/completion", body, headers, payloads.FAKE_TEXT)


PLAIN, STREAM, SLOW_MODEL = payloads.MODEL_PLAIN, payloads.MODEL_STREAM, payloads.MODEL_SLOW
DIRECT_CHAT = "/plain/v1/chat/completions"
DIRECT_STREAM = "/stream/v1/chat/completions"
CHAT = "/v1/chat/completions"

SCENARIOS = [
    Scenario("direct_plain", "nginx", "direct, plain", MAIN, lambda c: _chat(DIRECT_CHAT, PLAIN)),
    Scenario(
        "direct_stream",
        "nginx",
        "direct, streamed",
        MAIN,
        lambda c: _chat(DIRECT_STREAM, STREAM, stream=True),
        streamed=True,
    ),
    Scenario(
        "direct_slow",
        "slow",
        "direct, 200 ms upstream",
        SLOW,
        lambda c: _chat(DIRECT_CHAT, SLOW_MODEL),
    ),
    Scenario(
        "gw_health",
        "gateway",
        "gateway GET /health (floor)",
        (1,),
        lambda c: Request("GET", "/health", expect='"status"'),
        recorded=False,
    ),
    Scenario("gw_generate_token", "gateway", "gateway /generate-token", (1,), _generate_token),
    Scenario(
        "gw_completion",
        "gateway",
        "gateway /api/llm/completion",
        MAIN,
        _completion,
        baseline="direct_plain",
    ),
    Scenario(
        "gw_chat_plain",
        "gateway",
        "gateway /v1/chat/completions",
        MAIN,
        lambda c: _chat(CHAT, PLAIN, auth=c.gateway_token),
        baseline="direct_plain",
        counterpart="litellm_chat_plain",
    ),
    Scenario(
        "gw_chat_stream",
        "gateway",
        "gateway /v1/chat/completions, streamed",
        MAIN,
        lambda c: _chat(CHAT, STREAM, stream=True, auth=c.gateway_token),
        baseline="direct_stream",
        counterpart="litellm_chat_stream",
        streamed=True,
    ),
    Scenario(
        "gw_chat_slow",
        "gateway",
        "gateway /v1/chat/completions, 200 ms upstream",
        SLOW,
        lambda c: _chat(CHAT, SLOW_MODEL, auth=c.gateway_token),
        baseline="direct_slow",
        counterpart="litellm_chat_slow",
    ),
    Scenario(
        "litellm_chat_plain",
        "litellm",
        "LiteLLM /v1/chat/completions",
        MAIN,
        lambda c: _chat(CHAT, PLAIN, auth=c.litellm_key),
        baseline="direct_plain",
    ),
    Scenario(
        "litellm_chat_stream",
        "litellm",
        "LiteLLM /v1/chat/completions, streamed",
        MAIN,
        lambda c: _chat(CHAT, STREAM, stream=True, auth=c.litellm_key),
        baseline="direct_stream",
        streamed=True,
    ),
    Scenario(
        "litellm_chat_slow",
        "litellm",
        "LiteLLM /v1/chat/completions, 200 ms upstream",
        SLOW,
        lambda c: _chat(CHAT, SLOW_MODEL, auth=c.litellm_key),
        baseline="direct_slow",
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
GROUPS = {"direct": "nginx slow", "gateway": "gateway", "litellm": "litellm"}
KNOWN = ["micro", *GROUPS, *BY_NAME]


def select(only: list[str], skip_litellm: bool) -> list[Scenario]:
    """Scenarios named in `only` (names or the groups direct/gateway/litellm; empty: all),
    plus the baselines they need, in the order of SCENARIOS."""
    wanted = set()
    for item in only or [*GROUPS]:
        if item in GROUPS:
            wanted |= {s.name for s in SCENARIOS if s.target in GROUPS[item].split()}
        elif item in BY_NAME:
            wanted.add(item)
        elif item != "micro":
            raise ValueError(f"unknown scenario {item!r}; known: {', '.join(KNOWN)}")
    if skip_litellm:
        wanted = {name for name in wanted if BY_NAME[name].target != "litellm"}
    wanted |= {BY_NAME[name].baseline for name in wanted if BY_NAME[name].baseline}
    return [s for s in SCENARIOS if s.name in wanted]
