"""The README's API examples, run as a newcomer runs them: each `curl` block, unchanged but for
the address, against a gateway started with the development `.env` that `make run` writes
(`.env.example`), and the Python SDK example with a token from `/generate-token`."""

import json
import re
import subprocess
import sys

import pytest

from tests.telemetry import servers

pytestmark = pytest.mark.slow

README = (servers.ROOT / "README.md").read_text()
README_URL = "http://localhost:8001"
CURL_BLOCKS = [
    block
    for block in re.findall(r"```bash\n(.*?)```", README, re.S)
    if block.lstrip().startswith("curl ")
]
PYTHON_BLOCKS = [
    block for block in re.findall(r"```python\n(.*?)```", README, re.S) if "OpenAI(" in block
]


def development_env() -> dict[str, str]:
    """What `make run` configures: the variables of .env.example, as its `.env`."""
    lines = (servers.ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    return dict(pairs)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("readme")
    port = servers.free_port()
    development = development_env()
    development.pop("CSV_FALLBACK_DIR", None)  # the test's own directory, not the repository's
    env = servers.server_env(tmp_path, port, **development)
    with servers.deployed(tmp_path, port, env):
        yield f"http://127.0.0.1:{port}"


def test_the_readme_has_its_examples():
    assert len(CURL_BLOCKS) >= 5 and len(PYTHON_BLOCKS) == 1


@pytest.mark.parametrize("block", CURL_BLOCKS, ids=lambda block: block.split()[-1][:40])
def test_each_curl_example_answers_2xx_json(gateway, block):
    assert README_URL in block
    command = block.replace(README_URL, gateway).replace(
        "curl ", "curl -sS -w '\\n%{http_code}' ", 1
    )
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    body, status = result.stdout.rsplit("\n", 1)
    assert status.startswith("2"), (status, body)
    assert isinstance(json.loads(body), dict)


def test_the_sdk_example_answers(gateway):
    import requests

    token = requests.post(
        f"{gateway}/generate-token",
        headers={"X-Token-Secret": development_env()["TOKEN_SECRET"]},
        json={"soeid": "alice"},
        timeout=30,
    ).json()["token"]
    (block,) = PYTHON_BLOCKS
    code = block.replace(f"{README_URL}/v1", f"{gateway}/v1").replace('"<jwt>"', repr(token))
    code = code.replace("client.chat", "answer = client.chat", 1)
    code += "print(answer.choices[0].message.content)\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
