"""The gateway as deployed, for black-box suites (security, fuzzing).

gunicorn with gunicorn.conf.py and production settings (DEBUG off, default token off), its
own SQLite database, CSV store, spool and log in a temporary directory, and a routing table
aimed at the fake upstream. Suites learn everything over HTTP, from the server's log and
from the telemetry store, as an operator would.
"""

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from telemetry.backends.csv import CSVBackend
from tests.fake_upstream import FakeUpstream
from tests.telemetry import servers

UPSTREAM_KEY = "sk-test"
OAUTH_CLIENT = ("client-id", "client-secret")


def routes(fake: FakeUpstream, *, api_key: str = UPSTREAM_KEY, oauth=OAUTH_CLIENT) -> dict:
    """gemini (default) and solo on the OpenAI wire, google on Gemini's, gated via OAuth,
    vectors for embeddings. Retries are off and timeouts short, so upstream failures answer
    at once."""
    openai = {"provider": "openai", "base_url": fake.openai_url, "api_key": api_key}
    client_id, client_secret = oauth
    return {
        "defaults": {"retries": 0, "timeout": 5, "connect_timeout": 1},
        "routes": {
            "gemini": {**openai, "model": "up-main"},
            "solo": {**openai, "model": "up-solo"},
            "google": {
                "provider": "gemini",
                "base_url": fake.gemini_url,
                "api_key": api_key,
                "model": "up-google",
            },
            "gated": {
                "provider": "openai",
                "base_url": fake.openai_url,
                "model": "up-gated",
                "oauth": {
                    "token_url": fake.token_url,
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
            },
            "vectors": {**openai, "model": "up-vectors", "kind": "embedding"},
        },
    }


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    return session


@dataclass
class Gateway:
    """One gunicorn master and its workers; `env` is what they were started with."""

    directory: Path
    env: dict
    port: int
    process: subprocess.Popen | None = None
    session: requests.Session = field(default_factory=_session, repr=False)

    @classmethod
    def configure(cls, directory: Path, routing: dict, **overrides: str) -> "Gateway":
        directory.mkdir(parents=True, exist_ok=True)
        routes_file = directory / "routes.json"
        routes_file.write_text(json.dumps(routing))
        port = servers.free_port()
        defaults = {
            "LLM_ROUTES_FILE": str(routes_file),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "8",
            "TELEMETRY_FLUSH_INTERVAL": "0.2",
            "TELEMETRY_BATCH_SIZE": "500",
        }
        env = servers.server_env(directory, port, **{**defaults, **overrides})
        return cls(directory, env, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_secret(self) -> str:
        return self.env["TOKEN_SECRET"]

    def start(self) -> "Gateway":
        migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
        subprocess.run(migrate, cwd=servers.ROOT, env=self.env, check=True, capture_output=True)
        self.process = servers.start(servers.GUNICORN, self.directory, self.env)
        servers.wait_until_serving(self.port, self.process)
        return self

    def stop(self) -> None:
        """SIGTERM and a graceful exit: the workers flush their telemetry first."""
        self.session.close()
        if self.process is not None:
            servers.stop(self.process)

    def __enter__(self) -> "Gateway":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def post(self, path: str, body=None, **headers: str) -> requests.Response:
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
        return self.session.post(self.url + path, data=data, headers=headers, timeout=10)

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.session.get(self.url + path, headers=headers, timeout=10)

    def issue_token(self, soeid: str, **fields) -> str:
        """A real token, issued by this gateway's /generate-token."""
        body = {"soeid": soeid, **fields}
        response = self.post("/generate-token", body, **{"X-Token-Secret": self.token_secret})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def log(self) -> str:
        return (self.directory / "server.log").read_text(errors="replace")

    def stored_events(self) -> list[dict]:
        return list(CSVBackend(self.directory / "csv").iter_events())

    def wait_for_events(self, predicate, at_least: int, timeout: float = 10.0) -> list[dict]:
        """The stored events matching `predicate`, once there are `at_least` of them (the
        writer ships every TELEMETRY_FLUSH_INTERVAL) or when `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            events = [event for event in self.stored_events() if predicate(event)]
            if len(events) >= at_least or time.monotonic() > deadline:
                return events
            time.sleep(0.1)


# --- Fixtures, imported by the conftest of each suite that uses them -----------------------


@pytest.fixture(scope="session")
def fake_upstream():
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="session")
def gateway(tmp_path_factory, fake_upstream):
    """One production-mode gateway for the suite: read-only tests share it."""
    directory = tmp_path_factory.mktemp("gateway")
    with Gateway.configure(directory, routes(fake_upstream)) as gateway:
        yield gateway
