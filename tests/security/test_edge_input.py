"""Input no store could take is refused at the edge, over HTTP, by the gateway as deployed:
a 400 in the endpoint family's error shape naming the field, and the request's one event
(dgen_ping_site.parsers). The first case is the finding: a lone surrogate in a message used
to end in a 500 (gunicorn's own HTML page, in the report) instead."""

import json

import pytest

pytestmark = pytest.mark.slow

MESSAGE = '{"model": "gemini", "messages": [{"role": "user", "content": "a\\ud800"}]'


@pytest.fixture(scope="module")
def token(gateway) -> str:
    return gateway.issue_token("edge")


@pytest.mark.parametrize("stream", ["", ', "stream": true'])
def test_a_lone_surrogate_in_a_message_is_a_400_naming_it(gateway, token, stream):
    response = gateway.post(
        "/v1/chat/completions", MESSAGE + stream + "}", Authorization=f"Bearer {token}"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "messages.0.content")
    assert "lone surrogate" in error["message"]
    request_id = response.headers["X-Request-ID"]
    [event] = gateway.wait_for_events(lambda e: e["request_id"] == request_id, at_least=1)
    assert event["status_code"] == 400


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ('{"a\\u0000b": 1}', "metadata.a\\u0000b"),
        ('{"request_size": 18446744073709551616}', "metadata.request_size"),
        ('{"x": "\\udfff"}', "metadata.x"),
    ],
)
def test_custom_telemetry_no_store_could_take_is_a_400_and_recorded(
    gateway, token, metadata, field
):
    body = '{"metadata": ' + metadata + "}"
    response = gateway.post("/telemetry", body, **{"X-API-Token": token})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    request_id = response.headers["X-Request-ID"]
    [event] = gateway.wait_for_events(lambda e: e["request_id"] == request_id, at_least=1)
    assert event["status_code"] == 400
    assert event["error"].startswith(f"invalid: {field}: ")
    json.dumps(event, ensure_ascii=False).encode()  # the stored text is valid Unicode


def test_an_event_keeps_a_bounded_part_of_what_an_anonymous_caller_sends(gateway):
    """The path and the user agent are the caller's: an event keeps at most 2,048 and 512
    characters of them, 1,000 of an error quoting them (telemetry.schema.TEXT_LIMITS), and
    says it cut them."""
    path = "/" + "p" * 4000  # about gunicorn's longest request line
    response = gateway.get(path, **{"User-Agent": "u" * 8000})
    assert response.status_code == 404
    request_id = response.headers["X-Request-ID"]
    [event] = gateway.wait_for_events(lambda e: e["request_id"] == request_id, at_least=1)
    assert (len(event["endpoint"]), len(event["user_agent"])) == (2048, 512)
    assert event["extra"]["truncated"] == {"endpoint": 4001, "user_agent": 8000, "error": 4028}
    assert len(event["error"]) == 1000
