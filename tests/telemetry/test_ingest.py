"""POST /telemetry, with the README's example body."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

README_BODY = {
    "event_type": "custom_event",
    "request_id": "test-123",
    "client_ip": "127.0.0.1",
    "metadata": {
        "client_id": "default_user",
        "soeid": "default_user",
        "project_name": "default_project",
        "target_service": "custom",
        "endpoint": "/custom",
        "method": "POST",
        "status_code": 200,
        "latency_ms": 100.0,
        "request_size": 50,
        "response_size": 200,
    },
}


def post(client, body, **headers):
    return client.post("/telemetry", body, format="json", **headers)


def test_the_readme_example_is_accepted_as_this_requests_one_event(
    client, recorded, default_token_on
):
    response = post(client, README_BODY, HTTP_X_API_TOKEN="1")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "accepted" and body["timestamp"].endswith("Z")
    event = recorded.one()
    assert event["event_id"] == body["event_id"]
    expected = {"event_type": "custom_event", "request_id": "test-123", "client_ip": "127.0.0.1"}
    expected.update(README_BODY["metadata"])
    assert {name: event[name] for name in expected} == expected
    assert event["extra"] == {"gateway_request_id": response["X-Request-ID"]}


def test_who_sent_it_comes_from_the_token_not_the_body(client, recorded, user_token):
    body = {"metadata": {"soeid": "mallory", "client_id": "mallory", "project_name": "theirs"}}
    assert post(client, body, HTTP_X_API_TOKEN=user_token).status_code == 200
    event = recorded.one()
    assert (event["soeid"], event["client_id"], event["project_name"]) == (
        "alice",
        "alice",
        "proj-a",
    )
    assert event["extra"]["claimed_soeid"] == "mallory"
    assert event["event_type"] == "custom_event"  # the default when none is given


def test_other_metadata_is_kept_in_extra(client, recorded, user_token):
    extra = {"build": 7, "tag": "a", "ratio": 0.5, "green": True, "note": None}
    body = {"event_type": "deploy", "metadata": extra}
    post(client, body, HTTP_X_API_TOKEN=user_token)
    event = recorded.one()
    assert event["event_type"] == "deploy"
    assert event["extra"] == extra


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"tags": ["a", "b"]}, "tags"),  # scalars only
        ({"nested": {"a": 1}}, "nested"),
        ({"long": "x" * 257}, "long"),
        ({"nul": "a\x00b"}, "nul"),
        ({"bad key!": 1}, "bad key!"),
        ({f"k{n}": n for n in range(43)}, "At most 42 keys"),
    ],
)
def test_other_metadata_beyond_the_limits_is_a_400(client, user_token, metadata, field):
    response = post(client, {"metadata": metadata}, HTTP_X_API_TOKEN=user_token)
    assert response.status_code == 400
    assert field in str(response.json()["fields"]["metadata"])


def test_bad_fields_are_a_400_naming_each_of_them(client, recorded, user_token):
    body = {
        "event_type": "not allowed!",
        "client_ip": "nowhere",
        "metadata": {"status_code": "abc", "latency_ms": -1, "soeid": "bad soeid"},
    }
    response = post(client, body, HTTP_X_API_TOKEN=user_token)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid"
    assert {"event_type", "client_ip", "metadata"} <= error["fields"].keys()
    assert {"status_code", "latency_ms", "soeid"} <= error["fields"]["metadata"].keys()
    event = recorded.one()  # the rejected request is recorded as what it was
    assert (event["status_code"], event["event_type"]) == (400, "http_request")


@pytest.mark.parametrize("body", [[], {"metadata": "text"}, {"metadata": {"x" * 40: "y" * 9000}}])
def test_malformed_bodies_are_a_400(client, recorded, user_token, body):
    assert post(client, body, HTTP_X_API_TOKEN=user_token).status_code == 400


def test_without_a_token_it_is_a_401_when_the_default_token_is_off(client, recorded):
    response = post(client, README_BODY)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_the_endpoint_is_in_the_openapi_schema(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    schema = (tmp_path / "s.yml").read_text()
    assert "/telemetry:" in schema and "TelemetryEventInput" in schema
