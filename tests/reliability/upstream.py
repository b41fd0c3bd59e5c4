"""The upstream faults the suite injects: one route per fault, each always failing its way.

Every route points at the fake upstream (tests/fake_upstream.py) under its own upstream model
name, whose mode is fixed for the whole session, so concurrent requests from several workers
never race for a scripted answer. `backup` (a Gemini-style route) is the fallback wherever
one is configured.
"""

from dataclasses import dataclass

from tests.fake_upstream import FakeUpstream

# Short waits so failures are quick: the hang outlasts the route's timeout, the stall outlasts
# the timeout between stream events, the drip stays well inside it.
TIMEOUT = 0.5
MODES = {
    "up-ok": "ok",
    "up-backup": "ok",
    "up-500": "500",
    "up-429": "429:7",  # longer than LLM_MAX_RETRY_WAIT: not retried, passed on
    "up-hang": "hang:1.5",
    "up-malformed": "malformed",
    "up-cut": "cut",
    "up-drip": "drip:0.01",
    "up-stall": "drip:1.5",
    "up-slow": "drip:0.05",  # a 2-second stream, for shutdowns with requests in flight
}
DEFAULTS = {"timeout": 5, "connect_timeout": 1, "retries": 1, "backoff": 0.01}


def routes(fake: FakeUpstream, closed_port: int) -> dict:
    """The routing table (LLM_ROUTES_FILE format) of the fault suite."""
    openai = {"provider": "openai", "base_url": fake.openai_url, "api_key": "sk-test"}
    refused = {**openai, "base_url": f"http://127.0.0.1:{closed_port}/v1", "model": "up-ok"}
    hang = {**openai, "model": "up-hang", "timeout": TIMEOUT, "retries": 0}
    table = {
        "ok": {**openai, "model": "up-ok"},
        "backup": {"provider": "gemini", "base_url": fake.gemini_url, "api_key": "sk-test",
                   "model": "up-backup"},
        "refused": refused,
        "e500": {**openai, "model": "up-500"},
        "r429": {**openai, "model": "up-429"},
        "hang": hang,
        "malformed": {**openai, "model": "up-malformed"},
        "cut": {**openai, "model": "up-cut"},
        "drip": {**openai, "model": "up-drip", "timeout": TIMEOUT},
        "stall": {**openai, "model": "up-stall", "timeout": TIMEOUT},
        "slow": {**openai, "model": "up-slow", "timeout": TIMEOUT},
    }  # fmt: skip
    for name in ("refused", "e500", "r429", "hang"):
        table[f"{name}-fb"] = {**table[name], "fallbacks": ["backup"]}
    return {"defaults": DEFAULTS, "routes": table}


@dataclass(frozen=True)
class Fault:
    """A request to a failing route, and how the gateway must answer and record it."""

    name: str
    model: str
    status: int
    code: str | None = None  # the error code: in the body, or in the stream's error event
    stream: bool = False
    fallback: bool = False  # answered by `backup` instead
    retry_after: str | None = None
    abandon: bool = False  # the client hangs up after the first bytes

    @property
    def fails(self) -> bool:
        return self.code is not None or self.abandon


FAULTS = [
    Fault("connection refused", "refused", 502, "upstream_unavailable"),
    Fault("connection refused, fallback", "refused-fb", 200, fallback=True),
    Fault("500s", "e500", 502, "upstream_unavailable"),
    Fault("500s, fallback", "e500-fb", 200, fallback=True),
    Fault("429 with Retry-After", "r429", 429, "upstream_rate_limited", retry_after="7"),
    Fault("429, fallback", "r429-fb", 200, fallback=True),
    Fault("hang past the timeout", "hang", 504, "upstream_timeout"),
    Fault("hang, fallback", "hang-fb", 200, fallback=True),
    Fault("malformed JSON", "malformed", 502, "upstream_bad_response"),
    Fault("stream cut in the middle", "cut", 200, "upstream_unavailable", stream=True),
    Fault("stream stalls past the timeout", "stall", 200, "upstream_timeout", stream=True),
    Fault("slow-drip stream", "drip", 200, stream=True),
    Fault("client hangs up mid-stream", "drip", 200, stream=True, abandon=True),
]
FAILING = [fault for fault in FAULTS if fault.fails]
