"""examples/test_client.py, as a person runs it: its help, a clear message when no service
answers, and a passing run against a live gateway."""

import os
import subprocess
import sys

import pytest

from tests.telemetry import servers

pytestmark = pytest.mark.slow

CLIENT = [sys.executable, "examples/test_client.py"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DGEN_PING_URL"}
    return subprocess.run(
        [*CLIENT, *args],
        cwd=servers.ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_names_every_option():
    result = run("--help")
    assert result.returncode == 0
    for words in ("--url", "--token-secret", "soeid", "prompt", "DGEN_PING_URL"):
        assert words in result.stdout


def test_no_service_is_a_clear_message_and_a_failure():
    url = f"http://127.0.0.1:{servers.free_port()}"
    result = run("--url", url)
    assert result.returncode != 0
    assert f"No dgen-ping answers at {url}" in result.stderr
    assert "make run PORT=" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def live(tmp_path):
    port = servers.free_port()
    env = servers.server_env(tmp_path, port)
    with servers.deployed(tmp_path, port, env):
        yield f"http://127.0.0.1:{port}", env["TOKEN_SECRET"]


def test_a_run_against_a_live_gateway_passes(live):
    url, secret = live
    result = run("alice", "Hi", "--url", url, "--token-secret", secret)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed." in result.stdout
    assert '[SKIP] completion (default token "1")' in result.stdout  # production settings
