"""What is measured: each scenario is one request sent to one target at some concurrencies.

Targets: "nginx" and "slow" (the fake upstreams, called directly: the baselines),
"gateway" (dgen-ping under gunicorn), and the gateways it is compared with, "portkey"
(Portkey's open-source gateway) and "litellm" (LiteLLM's proxy). A proxied scenario names its
`baseline`, the direct call it adds to (for added latency, the share of direct throughput
and the upstream calls counted), and a gateway scenario names its `counterparts`, the same
request to each compared gateway.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from bench import payloads
from bench.load import Request

MAIN = "main"  # the --concurrency list (1, 16, 64)
SLOW = "slow"  # the --slow-concurrency list (64, 256)
UPSTREAMS = ("nginx", "slow")  # the fake upstreams, called directly for the baselines
PEERS = {"portkey": "Portkey", "litellm": "LiteLLM"}  # compared gateways, in table order
PLAIN, STREAM, SLOW_MODEL = payloads.MODEL_PLAIN, payloads.MODEL_STREAM, payloads.MODEL_SLOW
DIRECT_CHAT = "/plain/v1/chat/completions"
DIRECT_STREAM = "/stream/v1/chat/completions"
CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class Context:
    """What requests carry that is known only once the run has started: secrets, and the
    fake upstreams' base URLs (Portkey is told the upstream in every request)."""

    gateway_token: str = ""
    token_secret: str = ""
    litellm_key: str = ""
    nginx_url: str = ""
    slow_url: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str
    title: str
    concurrency: str | tuple[int, ...]
    build: Callable[[Context], Request]
    baseline: str = ""
    counterparts: tuple[str, ...] = ()
    streamed: bool = False
    recorded: bool = True  # the gateway writes a telemetry event per request (not /health)

    @property
    def upstream(self) -> str:
        """The fake upstream its requests reach: its target, or its baseline's ("" for the
        gateway's own routes, which call none)."""
        if self.target in UPSTREAMS:
            return self.target
        return BY_NAME[self.baseline].target if self.baseline else ""

    def counterpart(self, peer: str) -> str:
        """Its scenario on the compared gateway `peer` ("" when there is none)."""
        return next((name for name in self.counterparts if BY_NAME[name].target == peer), "")


def _chat(path: str, model: str, stream: bool = False, auth: str = "") -> Request:
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    expect = "data: [DONE]" if stream else payloads.FAKE_TEXT
    return Request("POST", path, payloads.chat_request(model, stream), headers, expect)


def _generate_token(context: Context) -> Request:
    headers = {"X-Token-Secret": context.token_secret}
    return Request("POST", "/generate-token", '{"soeid":"bench_user"}', headers, '"token"')


def _completion(context: Context) -> Request:
    body = payloads.readme_completion_request()
    headers = {"X-API-Token": context.gateway_token}
    return Request("POST", "/api/llm/completion", body, headers, payloads.FAKE_TEXT)


def _portkey_chat(base_url: str, model: str, stream: bool = False) -> Request:
    """Portkey routes by header: the provider, and the base URL its OpenAI provider calls
    instead of api.openai.com. The bearer key is what it forwards upstream as the provider's
    key, as a client of Portkey sends its own OpenAI key."""
    request = _chat(CHAT, model, stream, auth=payloads.UPSTREAM_KEY)
    routing = {"x-portkey-provider": "openai", "x-portkey-custom-host": base_url}
    return replace(request, headers={**request.headers, **routing})


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
        counterparts=("portkey_chat_plain", "litellm_chat_plain"),
    ),
    Scenario(
        "gw_chat_stream",
        "gateway",
        "gateway /v1/chat/completions, streamed",
        MAIN,
        lambda c: _chat(CHAT, STREAM, stream=True, auth=c.gateway_token),
        baseline="direct_stream",
        counterparts=("portkey_chat_stream", "litellm_chat_stream"),
        streamed=True,
    ),
    Scenario(
        "gw_chat_slow",
        "gateway",
        "gateway /v1/chat/completions, 200 ms upstream",
        SLOW,
        lambda c: _chat(CHAT, SLOW_MODEL, auth=c.gateway_token),
        baseline="direct_slow",
        counterparts=("portkey_chat_slow", "litellm_chat_slow"),
    ),
    Scenario(
        "portkey_chat_plain",
        "portkey",
        "Portkey /v1/chat/completions",
        MAIN,
        lambda c: _portkey_chat(f"{c.nginx_url}/plain/v1", PLAIN),
        baseline="direct_plain",
    ),
    Scenario(
        "portkey_chat_stream",
        "portkey",
        "Portkey /v1/chat/completions, streamed",
        MAIN,
        lambda c: _portkey_chat(f"{c.nginx_url}/stream/v1", STREAM, stream=True),
        baseline="direct_stream",
        streamed=True,
    ),
    Scenario(
        "portkey_chat_slow",
        "portkey",
        "Portkey /v1/chat/completions, 200 ms upstream",
        SLOW,
        lambda c: _portkey_chat(f"{c.slow_url}/plain/v1", SLOW_MODEL),
        baseline="direct_slow",
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
GROUPS = {"direct": " ".join(UPSTREAMS), "gateway": "gateway", **{peer: peer for peer in PEERS}}
# Groups that are not scenarios: the micro-benchmarks, and reports on stored events.
PARTS = ("micro", "reports")
KNOWN = [*PARTS, *GROUPS, *BY_NAME]


def select(only: list[str], skip: frozenset[str] = frozenset()) -> list[Scenario]:
    """Scenarios named in `only` (names or the groups direct/gateway/portkey/litellm; empty:
    all) but for those of the targets in `skip`, plus the baselines they need, in the order
    of SCENARIOS."""
    wanted = set()
    for item in only or [*GROUPS]:
        if item in GROUPS:
            wanted |= {s.name for s in SCENARIOS if s.target in GROUPS[item].split()}
        elif item in BY_NAME:
            wanted.add(item)
        elif item not in PARTS:
            raise ValueError(f"unknown scenario {item!r}; known: {', '.join(KNOWN)}")
    wanted = {name for name in wanted if BY_NAME[name].target not in skip}
    wanted |= {BY_NAME[name].baseline for name in wanted if BY_NAME[name].baseline}
    return [s for s in SCENARIOS if s.name in wanted]
