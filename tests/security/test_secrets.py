"""No configured secret ever leaves the gateway: not in its logs, answers or telemetry.

A gateway under gunicorn gets distinctive secrets (SECRET_KEY, TOKEN_SECRET,
JWT_SIGNING_KEY, an upstream API key, a wrong upstream key the upstream echoes back, an
OAuth client secret, a MongoDB password), logs at DEBUG, and is driven through successes
and every kind of failure: upstream errors that quote the credential they were sent, a
refused key, OAuth failures, timeouts, broken streams, forged tokens, wrong token secrets.
Then its whole log, every response (headers and body), and the stored telemetry and spool
are searched for each secret, and for every 16-character piece of it.
"""

import secrets
import time

import pytest

from tests.accounts.test_tokens import forge, valid_claims
from tests.fake_upstream import FakeUpstream
from tests.security.gateway import Gateway

HI = [{"role": "user", "content": "Hi"}]
PIECE = 16


def distinctive(prefix: str, length: int = 48) -> str:
    return f"{prefix}-{secrets.token_hex(length // 2)}"


SECRETS = {
    "SECRET_KEY": distinctive("SECRETKEY", 56),
    "TOKEN_SECRET": distinctive("TOKENSECRET"),
    "JWT_SIGNING_KEY": distinctive("JWTKEY"),
    "LLM_SECRET_UPSTREAM": distinctive("sk-UPSTREAM"),
    "LLM_SECRET_REFUSED": distinctive("sk-REFUSED"),
    "CLIENT_SECRET": distinctive("OAUTHSECRET"),
    "MONGO_PASSWORD": distinctive("MONGOPASS", 24),
}


def routes(fake: FakeUpstream) -> dict:
    keyed = {"provider": "openai", "base_url": fake.openai_url}
    oauth = {"token_url": fake.token_url, "client_id": "gw", "client_secret": "${CLIENT_SECRET}"}
    return {
        "defaults": {"retries": 0, "timeout": 1, "connect_timeout": 1},
        "routes": {
            "gemini": {**keyed, "model": "up-main", "api_key": "${LLM_SECRET_UPSTREAM}"},
            "google": {
                "provider": "gemini",
                "base_url": fake.gemini_url,
                "model": "up-google",
                "api_key": "${LLM_SECRET_UPSTREAM}",
            },
            "refused": {**keyed, "model": "up-refused", "api_key": "${LLM_SECRET_REFUSED}"},
            "gated": {**keyed, "model": "up-gated", "oauth": oauth},
        },
    }


@pytest.fixture(scope="module")
def upstream():
    clients = {"gw": SECRETS["CLIENT_SECRET"]}
    with FakeUpstream(api_keys=[SECRETS["LLM_SECRET_UPSTREAM"]], clients=clients) as fake:
        yield fake


@pytest.fixture(scope="module")
def run(tmp_path_factory, upstream):
    """Drive the traffic, stop the gateway (its workers flush), and keep what came out."""
    env = {
        **{name: value for name, value in SECRETS.items() if name != "MONGO_PASSWORD"},
        "MONGO_URI": f"mongodb://gateway:{SECRETS['MONGO_PASSWORD']}@127.0.0.1:9/dgen",
        "MONGO_TIMEOUT_MS": "200",
        "TELEMETRY_BACKEND": "mongo",
        "LOG_LEVEL": "DEBUG",
        "GUNICORN_LOG_LEVEL": "debug",
    }
    gateway = Gateway.configure(tmp_path_factory.mktemp("secrets"), routes(upstream), **env)
    with gateway:
        responses = drive(gateway, upstream)
        last = responses[-1].headers["X-Request-ID"]
        gateway.wait_for_events(lambda event: event["request_id"] == last, at_least=1)
    return gateway, responses


def drive(gateway: Gateway, upstream: FakeUpstream) -> list:
    token = {"X-API-Token": gateway.issue_token("secret.tester")}
    completion = "/api/llm/completion"
    answers = [gateway.post(completion, {"prompt": "Hi", "model": m}, **token) for m in MODELS]
    answers.append(gateway.post(completion, {"prompt": "Hi", "stream": True}, **token))
    for model, modes in FAULTS.items():
        upstream.script(model, *modes)
        answers += [gateway.post(completion, {"prompt": "Hi", "model": m(model)}, **token)]
    upstream.script("oauth", "500")
    upstream.revoke_tokens()
    upstream.script("up-gated", "401")
    answers.append(gateway.post(completion, {"prompt": "Hi", "model": "gated"}, **token))
    answers += [gateway.post("/v1/chat/completions", body, **token) for body in OPENAI_BODIES]
    answers += refusals(gateway)
    return answers


MODELS = ["gemini", "google", "gated", "refused"]
# Upstream model -> the faults it answers with, one request each.
FAULTS = {
    "up-main": ["400:echo"],
    "up-google": ["500"],
    "up-gated": ["hang:1.5"],
}
OPENAI_BODIES = [
    {"model": "refused", "messages": HI},
    {"model": "gemini", "messages": HI, "stream": True},
    {"model": "nope", "messages": HI},
]


def m(upstream_model: str) -> str:
    return {"up-main": "gemini", "up-google": "google", "up-gated": "gated"}[upstream_model]


def refusals(gateway: Gateway) -> list:
    wrong_secret = SECRETS["TOKEN_SECRET"][:-1] + "0"
    forged = forge(valid_claims(jti=f"x{time.monotonic_ns()}"), key="not-the-key" * 4)
    return [
        gateway.post("/generate-token", {"soeid": "x"}, **{"X-Token-Secret": wrong_secret}),
        gateway.post("/generate-token", {"soeid": "bad soeid"}),
        gateway.post("/verify-token", {"token": forged}, **{"X-Token-Secret": wrong_secret}),
        gateway.post("/api/llm/completion", {"prompt": "x"}, **{"X-API-Token": forged}),
        gateway.post("/telemetry", "{not json", **{"X-API-Token": "garbage"}),
        gateway.get("/health"),
        gateway.get("/api/schema/"),
        gateway.get("/no/such/page"),
    ]


def pieces(secret: str) -> set[str]:
    return {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)}


def leaks(text: str) -> dict[str, list[str]]:
    found = {name: sorted(p for p in pieces(value) if p in text) for name, value in SECRETS.items()}
    return {name: found_pieces for name, found_pieces in found.items() if found_pieces}


def test_the_traffic_covered_successes_and_failures(run, upstream):
    _, responses = run
    statuses = {response.status_code for response in responses}
    assert {200, 400, 401, 403, 404, 502, 504} <= statuses, statuses
    # The secrets were really in use: the upstream saw the key and the client secret.
    assert any(seen.key == SECRETS["LLM_SECRET_UPSTREAM"] for seen in upstream.seen)
    assert any(seen.key == SECRETS["LLM_SECRET_REFUSED"] for seen in upstream.seen)
    assert upstream.token_requests


def test_no_secret_in_the_log(run):
    gateway, _ = run
    log = gateway.log()
    assert "DEBUG" in log and "Booting worker" in log  # the search has something to search
    assert leaks(log) == {}


def test_no_secret_in_any_answer(run):
    _, responses = run
    for response in responses:
        text = f"{dict(response.headers)}\n{response.text}"
        assert leaks(text) == {}, (response.request.url, response.status_code)


def test_no_secret_in_the_stored_telemetry_or_the_spool(run):
    gateway, responses = run
    events = gateway.stored_events()
    assert len(events) >= len(responses) - 2  # /health and /api/schema/ are not recorded
    assert any(event["error"] for event in events)
    files = [path for path in gateway.directory.rglob("*") if path.is_file()]
    stored = [path for path in files if path.suffix in {".csv", ".spool", ".jsonl"}]
    assert stored
    for path in stored:
        assert leaks(path.read_text(errors="replace")) == {}, path
