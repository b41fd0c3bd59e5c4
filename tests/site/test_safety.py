"""With DEBUG off, an unsafe configuration never serves: every way of starting the service
refuses with the same single message (dgen_ping_site.safety), exit status non-zero, and no
traceback. Each case runs the real command."""

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.telemetry import servers

pytestmark = pytest.mark.slow

MESSAGE = "dgen-ping will not start"
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(64))"'
# What each unsafe configuration changes, and what the message must then say.
UNSAFE = {
    "secrets missing": (
        {"SECRET_KEY": None, "TOKEN_SECRET": None},
        ["SECRET_KEY", "TOKEN_SECRET", GENERATE],
    ),
    "short secret": (
        {"TOKEN_SECRET": "dgen_secret_key"},
        ["TOKEN_SECRET", "32 characters", GENERATE],
    ),
    "default token": ({"ALLOW_DEFAULT_TOKEN": "true"}, ["ALLOW_DEFAULT_TOKEN is on"]),
    "local provider": ({"ALLOW_LOCAL_PROVIDER": None}, ["local development provider", "gemini"]),
}
# Ways to start serving; {port} is a free one.
SERVING = {
    "runserver": ["manage.py", "runserver", "--noreload", "127.0.0.1:{port}"],
    "runserver with reloader": ["manage.py", "runserver", "127.0.0.1:{port}"],
    "check --deploy": ["manage.py", "check", "--deploy"],
    "gunicorn.conf.py": servers.GUNICORN,
    # Any other WSGI set-up: the application module itself refuses to load. (gunicorn reads
    # ./gunicorn.conf.py unless given another file: {plain} is an almost empty one.)
    "wsgi import": [
        "-m",
        "gunicorn",
        "-c",
        "{plain}",
        "-b",
        "127.0.0.1:{port}",
        "dgen_ping_site.wsgi",
    ],
}


def environment(tmp_path, port: int, changes: dict) -> dict:
    env = servers.server_env(tmp_path, port)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(args: list[str], env: dict, port: int) -> subprocess.CompletedProcess:
    plain = Path(env["TELEMETRY_SPOOL_DIR"]).parent / "plain.conf.py"
    plain.write_text("control_socket_disable = True\n")
    command = [sys.executable, *(arg.format(port=port, plain=plain) for arg in args)]
    # A configuration that starts would serve until the timeout: the test then fails.
    return subprocess.run(
        command, cwd=servers.ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def assert_refused_with_one_message(result: subprocess.CompletedProcess, says: list[str]):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert output.count(MESSAGE) == 1, output
    assert "Traceback" not in output, output
    for words in says:
        assert words in output, (words, output)


@pytest.mark.parametrize("entry", SERVING)
@pytest.mark.parametrize("unsafe", UNSAFE)
def test_an_unsafe_production_configuration_refuses_to_start(tmp_path, entry, unsafe):
    changes, says = UNSAFE[unsafe]
    port = servers.free_port()
    result = run(SERVING[entry], environment(tmp_path, port, changes), port)
    assert_refused_with_one_message(result, says)


def test_every_problem_is_named_at_once(tmp_path):
    changes = {name: value for changes, _ in UNSAFE.values() for name, value in changes.items()}
    changes["TOKEN_SECRET"] = None
    port = servers.free_port()
    result = run(SERVING["gunicorn.conf.py"], environment(tmp_path, port, changes), port)
    everything = [
        words for _, says in UNSAFE.values() for words in says if words != "32 characters"
    ]
    assert_refused_with_one_message(result, everything)


def test_commands_that_do_not_serve_need_only_the_secrets(tmp_path):
    port = servers.free_port()
    risky = environment(
        tmp_path, port, {"ALLOW_DEFAULT_TOKEN": "true", "ALLOW_LOCAL_PROVIDER": None}
    )
    assert run(["manage.py", "check"], risky, port).returncode == 0
    no_secret = environment(tmp_path, port, {"SECRET_KEY": None})
    assert_refused_with_one_message(run(["manage.py", "check"], no_secret, port), ["SECRET_KEY"])


def test_development_mode_starts_with_nothing_configured(tmp_path):
    port = servers.free_port()
    env = environment(tmp_path, port, {"DEBUG": "true", "SECRET_KEY": None, "TOKEN_SECRET": None})
    env.update(ALLOW_DEFAULT_TOKEN="true", ALLOW_LOCAL_PROVIDER="false")
    result = run(["manage.py", "check", "--deploy"], env, port)
    assert MESSAGE not in result.stderr and result.returncode == 0, result.stderr


@pytest.fixture
def local_provider_gateway(tmp_path):
    """Production settings with no upstream, and ALLOW_LOCAL_PROVIDER=true."""
    port = servers.free_port()
    env = servers.server_env(tmp_path, port, ALLOW_LOCAL_PROVIDER="true")
    with servers.deployed(tmp_path, port, env):
        yield f"http://127.0.0.1:{port}", env


def test_with_the_local_provider_allowed_health_and_every_answer_say_so(local_provider_gateway):
    url, env = local_provider_gateway
    session = requests.Session()
    session.trust_env = False
    health = session.get(f"{url}/health", timeout=10)
    assert health.json()["local_provider"] == ["gemini", "local-embedding"]
    secret = {"X-Token-Secret": env["TOKEN_SECRET"]}
    token = session.post(f"{url}/generate-token", json={"soeid": "alice"}, headers=secret).json()
    auth = {"X-API-Token": token["token"]}
    for stream in (False, True):
        body = {"prompt": "hello", "stream": stream}
        answer = session.post(f"{url}/api/llm/completion", json=body, headers=auth, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["X-Local-Provider"] == "gemini, local-embedding"
        assert "local development provider" in answer.text
