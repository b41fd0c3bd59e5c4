"""The request body limit, over raw HTTP to every endpoint family of a real gateway.

A body over MAX_REQUEST_BODY_BYTES is refused with 413 from its Content-Length alone: the
tests send the headers and one byte, so a server that waited for the body would time out.
A chunked body (no Content-Length) is refused with 411: Django would read it as empty and
run the request without it. Connections are not reused after a refusal: gunicorn drains
at most 64 KiB of an unread body, then closes the connection (docs/security.md, limits).
"""

import http.client
import json

import pytest
from django.conf import settings

LIMIT = settings.MAX_REQUEST_BODY_BYTES
PATHS = [
    "/generate-token",
    "/verify-token",
    "/telemetry",
    "/api/llm/completion",
    "/api/llm/chat",
    "/v1/chat/completions",
    "/v1/models",
    "/health",
    "/no/such/endpoint",
]


def raw(gateway, path: str, headers: dict, body: bytes = b"", chunks=None):
    """One request on a fresh connection: (status, body text)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    try:
        if chunks is not None:
            connection.request("POST", path, iter(chunks), headers, encode_chunked=True)
        else:
            connection.putrequest("POST", path)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def credentials(gateway) -> dict:
    # Valid credentials, so that only the body can be the reason for a refusal.
    return {
        "X-API-Token": gateway.issue_token("big.sender"),
        "X-Token-Secret": gateway.token_secret,
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("path", PATHS)
def test_a_body_over_the_limit_is_413_without_being_read(gateway, credentials, path):
    headers = {**credentials, "Content-Length": str(LIMIT + 1)}
    status, body = raw(gateway, path, headers, b"{")
    assert status == 413
    assert json.loads(body)["code"] == "request_too_large"
    assert str(LIMIT) in json.loads(body)["detail"]


@pytest.mark.parametrize("path", PATHS)
def test_a_chunked_body_is_411_not_read_as_empty(gateway, credentials, path):
    # Read as empty, {"soeid": "chunked"} would have issued a token for default_user.
    status, body = raw(gateway, path, credentials, chunks=[b'{"soeid": ', b'"chunked"}'])
    assert status == 411
    assert json.loads(body)["code"] == "length_required"


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_an_invalid_content_length_is_400(gateway, credentials, length):
    # gunicorn refuses these itself; the gateway's own check serves other servers.
    status, _ = raw(gateway, "/telemetry", {**credentials, "Content-Length": length}, b"{}")
    assert status == 400


def test_a_body_of_exactly_the_limit_is_taken(gateway, credentials):
    body = b"{}" + b" " * (LIMIT - 2)  # valid JSON, exactly LIMIT bytes
    headers = {**credentials, "Content-Length": str(len(body))}
    status, answer = raw(gateway, "/telemetry", headers, body)
    assert (status, json.loads(answer)["status"]) == (200, "accepted")
