"""A client that goes away in the middle of a stream is a first-class outcome: its event has
status 499 (nginx's "client closed request") and says so in `error`, and the reports count
it as an error: `manage.py telemetry_stats` and GET /api/telemetry/usage. Over HTTP, against
the gateway as deployed."""

import http.client
import json
import subprocess
import sys

import pytest

from tests.security.gateway import fake_upstream, gateway  # noqa: F401 (fixtures)
from tests.telemetry import servers

pytestmark = pytest.mark.slow

SOEID = "leaves-early"


def hang_up_mid_stream(port: int, token: str) -> str:
    """Start a streamed completion, read its first bytes, close: the request's id."""
    body = json.dumps({"prompt": "Hello", "model": "solo", "stream": True})
    headers = {"X-API-Token": token, "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/api/llm/completion", body, headers)
        response = connection.getresponse()
        assert response.status == 200 and response.read(64).startswith(b"data: ")
        return response.getheader("X-Request-ID")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def abandoned(gateway, fake_upstream):  # noqa: F811
    fake_upstream.script("up-solo", "drip:0.05")  # 40 pieces over 2 s: time to leave
    request_id = hang_up_mid_stream(gateway.port, gateway.issue_token(SOEID))
    [event] = gateway.wait_for_events(lambda e: e["request_id"] == request_id, at_least=1)
    return event


def test_the_event_of_a_stream_the_client_left_is_499(abandoned):
    assert abandoned["status_code"] == 499
    assert abandoned["error"].startswith("client_disconnected: ")
    assert abandoned["extra"]["disconnected"] is True
    assert 0 < abandoned["response_size"]


def test_the_usage_api_counts_it_as_an_error(gateway, abandoned):  # noqa: F811
    response = gateway.get(
        f"/api/telemetry/usage?group_by=soeid&soeid={SOEID}",
        **{"X-Token-Secret": gateway.token_secret},
    )
    [row] = response.json()["rows"]
    assert (row["requests"], row["errors"]) == (1, 1)


def test_telemetry_stats_counts_it_as_an_error(gateway, abandoned):  # noqa: F811
    command = [sys.executable, "manage.py", "telemetry_stats", "--format", "json"]
    command += ["--group-by", "soeid", "--soeid", SOEID]
    result = subprocess.run(
        command, cwd=servers.ROOT, env=gateway.env, capture_output=True, text=True, check=True
    )
    [row] = json.loads(result.stdout)["rows"]
    assert (row["requests"], row["errors"]) == (1, 1)
