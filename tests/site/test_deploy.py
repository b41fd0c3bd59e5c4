"""The README's deploy path, end to end, as a new operator follows it: a fresh `git clone` of
this commit, the production variables of the README's Deploy section, `make serve`. The
gateway then refuses the development default token, requests without a token and the local
development provider's model; with an unsafe variant of the variables, `make serve` refuses
to start with the one message.

The clone uses this suite's virtualenv (`make VENV=...`, its requirements marker taken as
up to date), so nothing is installed. It tests the committed tree, not uncommitted changes.
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.telemetry import servers

pytestmark = pytest.mark.slow

ROOT = servers.ROOT
VENV = Path(sys.prefix)
# The shell block of README's Deploy section that ends with `make serve`.
DEPLOY_BLOCK = re.compile(r"## Deploy\n.*?```bash\n(export .*?)\nmake serve", re.S)
# As nginx, the README's proxy, marks a request that came over TLS.
VIA_TLS = {"X-Forwarded-Proto": "https"}
MESSAGE = "dgen-ping will not start"


def readme_variables() -> set[str]:
    block = DEPLOY_BLOCK.search((ROOT / "README.md").read_text()).group(1)
    return set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", block))


def production_variables(fake_upstream) -> dict[str, str]:
    """Values for the README's variables: new secrets, our host, the fake upstream."""
    return {
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "TOKEN_SECRET": secrets.token_urlsafe(64),
        "API_ENDPOINT": fake_upstream.openai_url,
        "MODEL": "up-main",
        "API_KEY": "sk-test",
        "BEHIND_TLS_PROXY": "true",
    }


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    if not (VENV / "bin" / "gunicorn").exists():
        pytest.skip("needs the suite to run from a virtualenv with gunicorn")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if not head:
        pytest.skip("not a git checkout")
    directory = tmp_path_factory.mktemp("deploy") / "dgen-ping"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(directory)], check=True)
    subprocess.run(["git", "-C", str(directory), "checkout", "--quiet", head], check=True)
    return directory


def make_serve(clone: Path, variables: dict, port: int, output=subprocess.PIPE) -> subprocess.Popen:
    """`make serve` in the clone, from a shell that has only the README's variables."""
    env = {"PATH": os.environ["PATH"], "HOME": str(clone.parent), "LANG": "C.UTF-8"}
    env.update(variables)
    command = ["make", "-o", f"{VENV}/.base", "serve", f"VENV={VENV}", f"PORT={port}"]
    return subprocess.Popen(
        command,
        cwd=clone,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make, gunicorn and its workers: one group to stop
    )


@pytest.fixture(scope="module")
def variables(fake_upstream) -> dict[str, str]:
    return production_variables(fake_upstream)


def test_the_readme_names_the_variables_this_test_deploys_with(variables):
    assert readme_variables() == set(variables)


@pytest.fixture(scope="module")
def deployed(clone, variables):
    """The URL of the gateway `make serve` started in the clone."""
    port = servers.free_port()
    with open(clone.parent / "serve.log", "w") as log:
        process = make_serve(clone, variables, port, output=log)
        try:
            servers.wait_until_serving(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


@pytest.fixture(scope="module")
def session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers.update(VIA_TLS)
    return session


def post(session, url: str, path: str, body: dict, **headers) -> requests.Response:
    return session.post(url + path, json=body, headers=headers, timeout=10)


PROMPT = {"prompt": "hello"}
CHAT = {"model": "gemini", "messages": [{"role": "user", "content": "hello"}]}


def test_make_serve_writes_no_development_env_file(deployed, clone):
    assert not (clone / ".env").exists()


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/api/llm/completion", PROMPT, {"X-API-Token": "1"}),
        ("/api/llm/completion", PROMPT, {}),
        ("/v1/chat/completions", CHAT, {"Authorization": "Bearer 1"}),
        ("/v1/chat/completions", CHAT, {}),
        ("/telemetry", {}, {"X-API-Token": "1"}),
        ("/telemetry", {}, {}),
    ],
)
def test_the_default_token_and_no_token_are_refused(deployed, session, path, body, headers):
    assert post(session, deployed, path, body, **headers).status_code == 401


def test_a_real_token_is_served_and_the_development_model_is_not(deployed, session, variables):
    secret = {"X-Token-Secret": variables["TOKEN_SECRET"]}
    issued = post(session, deployed, "/generate-token", {"soeid": "alice"}, **secret)
    auth = {"X-API-Token": issued.json()["token"]}
    served = post(session, deployed, "/api/llm/completion", PROMPT, **auth)
    assert served.status_code == 200 and "X-Local-Provider" not in served.headers
    assert "Fake answer" in served.json()["completion"]  # from the upstream
    local = post(
        session, deployed, "/api/llm/completion", {**PROMPT, "model": "local-development"}, **auth
    )
    assert 400 <= local.status_code < 500, local.text
    assert session.get(f"{deployed}/health", timeout=10).json()["local_provider"] == []


UNSAFE = {
    "default token on": {"ALLOW_DEFAULT_TOKEN": "true"},
    "short token secret": {"TOKEN_SECRET": "dgen_secret_key"},
    "no secret key": {"SECRET_KEY": None},
    "no upstream": {"API_ENDPOINT": None, "MODEL": None, "API_KEY": None},
}


@pytest.mark.parametrize("unsafe", UNSAFE)
def test_an_unsafe_variant_refuses_to_start_with_one_message(clone, variables, unsafe):
    changed = {**variables, **UNSAFE[unsafe]}
    given = {name: value for name, value in changed.items() if value is not None}
    process = make_serve(clone, given, servers.free_port())
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # it started, and serves: stop it, and fail
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=60)
        raise
    assert process.returncode != 0, output
    assert output.count(MESSAGE) == 1, output
    assert "Traceback" not in output, output
    assert not (clone / ".env").exists()
