"""The fuzzer's gateways: production settings under gunicorn (the security suite's gateway,
with its OpenAI-compatible routes), and development settings as `make run` configures them
(runserver, .env from .env.example)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.gateway import Gateway, fake_upstream, routes  # noqa: F401 (fixtures)
from tests.telemetry import servers

DEV_TOKEN_SECRET = "dgen_secret_key"  # .env.example's, the documented one


def fuzzed_routes(fake) -> dict:
    """The security suite's routes but its Gemini one. A Gemini route refuses, by design, a
    schema-valid request it cannot translate (400 `unsupported_parameter`: n > 1, logprobs,
    tools of other types, fields it does not know...), which the schema cannot say per model;
    those refusals have tests of their own (tests/llmproxy: test_sdk_compatibility,
    test_gemini_translation, test_event_errors). docs/security.md says why."""
    table = routes(fake)
    chosen = {name: r for name, r in table["routes"].items() if r.get("provider") != "gemini"}
    return {**table, "routes": chosen}


@pytest.fixture(scope="session")
def fuzzed_gateway(tmp_path_factory, fake_upstream):  # noqa: F811 (the fixture above)
    """The production-mode gateway the schema is fuzzed against."""
    directory = tmp_path_factory.mktemp("fuzzed-gateway")
    with Gateway.configure(directory, fuzzed_routes(fake_upstream)) as gateway:
        yield gateway


def development_env(directory: Path, port: int = 0) -> dict:
    """What `make run` gives the service: a .env copied from .env.example, nothing else set
    but where this test keeps its files, and no rate limit (the fuzzer sends hundreds of
    requests a minute as one person, more than the default 120)."""
    env_file = directory / ".env"
    shutil.copy(servers.ROOT / ".env.example", env_file)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(directory),
        "LANG": "C.UTF-8",
        "ENV_FILE": str(env_file),
        "DJANGO_SETTINGS_MODULE": "dgen_ping_site.settings",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "CSV_FALLBACK_DIR": str(directory / "csv"),
        "TELEMETRY_SPOOL_DIR": str(directory / "spool"),
        "RATE_LIMIT": "0",
        "TOKEN_SECRET_FOR_TESTS": DEV_TOKEN_SECRET,  # read by the tests, not the service
        "PORT": str(port),
    }


class DevelopmentGateway(Gateway):
    @property
    def token_secret(self) -> str:
        return self.env["TOKEN_SECRET_FOR_TESTS"]


@pytest.fixture(scope="session")
def development_gateway(tmp_path_factory):
    directory = tmp_path_factory.mktemp("development")
    port = servers.free_port()
    env = development_env(directory, port)
    migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
    subprocess.run(migrate, cwd=servers.ROOT, env=env, check=True, capture_output=True)
    runserver = ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    served = DevelopmentGateway(directory, env, port)
    served.process = servers.start(runserver, directory, env)
    try:
        servers.wait_until_serving(port, served.process)
        yield served
    finally:
        served.stop()
