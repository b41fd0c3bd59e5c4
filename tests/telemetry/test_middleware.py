import pytest
from rest_framework.test import APIClient

from telemetry.middleware import client_ip

pytestmark = pytest.mark.django_db


def test_every_request_gets_an_id_that_its_event_carries(client, recorded):
    response = client.get("/no/such/page", HTTP_USER_AGENT="pytest-agent")
    event = recorded.one()
    assert response["X-Request-ID"] == event["request_id"]
    assert event["endpoint"] == "/no/such/page" and event["method"] == "GET"
    assert event["status_code"] == 404 and event["event_type"] == "http_request"
    assert event["response_size"] == len(response.content)
    assert event["latency_ms"] > 0 and event["user_agent"] == "pytest-agent"
    assert event["client_ip"] == "127.0.0.1"


@pytest.mark.parametrize(
    "path", ["/health", "/docs", "/redoc", "/api/schema/", "/static/app.css", "/favicon.ico"]
)
def test_excluded_paths_record_nothing_but_still_get_an_id(client, recorded, path):
    response = client.get(path)
    assert response.has_header("X-Request-ID")
    assert recorded.events() == []


def test_excluded_paths_come_from_settings(client, recorded, settings):
    settings.TELEMETRY = {**settings.TELEMETRY, "EXCLUDED_PATHS": ["/private"]}
    client.get("/private/thing")
    client.get("/health")
    assert [e["endpoint"] for e in recorded.events()] == ["/health"]


def test_an_unauthenticated_request_is_recorded_as_401(client, recorded):
    assert client.post("/telemetry", {}, format="json").status_code == 401
    event = recorded.one()
    assert (event["status_code"], event["soeid"]) == (401, None)


def test_a_bad_token_is_recorded_as_401(client, recorded):
    client.post("/telemetry", {}, format="json", HTTP_X_API_TOKEN="forged.token.here")
    assert recorded.one()["status_code"] == 401


def test_a_wrong_token_secret_is_recorded_as_403(client, recorded):
    client.post("/generate-token", {"soeid": "x"}, format="json", HTTP_X_TOKEN_SECRET="guess")
    assert recorded.one()["status_code"] == 403


def test_an_oversized_body_is_recorded_as_413_with_its_size(client, recorded, settings):
    body = "x" * (settings.MAX_REQUEST_BODY_BYTES + 1)
    client.post("/telemetry", body, content_type="application/json")
    event = recorded.one()
    assert (event["status_code"], event["request_size"]) == (413, len(body))


@pytest.mark.urls("tests.telemetry.urls")
def test_a_crashing_view_is_recorded_as_500(recorded):
    APIClient(raise_request_exception=False).get("/boom")
    assert recorded.one()["status_code"] == 500


def test_the_token_identity_is_recorded_even_when_the_request_is_refused(
    client, recorded, user_token
):
    client.get("/telemetry", HTTP_X_API_TOKEN=user_token)  # GET: 405 after authentication
    event = recorded.one()
    assert event["status_code"] == 405
    assert (event["soeid"], event["client_id"], event["project_name"]) == (
        "alice",
        "alice",
        "proj-a",
    )


@pytest.mark.urls("tests.telemetry.urls")
def test_a_stream_is_recorded_when_it_ends_with_the_views_final_annotations(client, recorded):
    response = client.get("/stream")
    assert recorded.events() == []  # not before the stream is over
    body = b"".join(response.streaming_content)
    event = recorded.one()
    assert event["response_size"] == len(body) == 24
    assert (event["model"], event["total_tokens"]) == ("stream-model", 42)
    assert event["extra"] == {"streamed": True}
    assert event["request_id"] == response["X-Request-ID"]


@pytest.mark.urls("tests.telemetry.urls")
def test_a_stream_the_client_abandons_is_recorded_after_the_view_closed(client, recorded):
    response = client.get("/stream")
    first = next(iter(response.streaming_content))
    response.close()  # what the WSGI server does when the client goes away
    event = recorded.one()
    assert event["response_size"] == len(first)
    assert event["extra"] == {"streamed": True, "disconnected": True}
    assert event["status_code"] == 499  # nginx's "client closed request": an outcome of its own
    assert event["error"].startswith("client_disconnected: ")
    assert event["total_tokens"] == 42  # the view's `finally:` ran before the event was built


@pytest.mark.parametrize(
    "remote, forwarded, expected",
    [
        ("198.51.100.7", "1.2.3.4", "198.51.100.7"),  # not a proxy of ours: ignored
        ("10.0.0.2", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.9", "1.2.3.4"),  # left of the client: forgeable
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),  # only proxies: the first hop
        ("10.0.0.2", "", "10.0.0.2"),
        ("192.168.1.1", "1.2.3.4", "1.2.3.4"),  # a single trusted address
    ],
)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    settings, remote, forwarded, expected
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.1.1"]
    meta = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_ip(meta) == expected


def test_the_forwarded_client_ip_reaches_the_event(client, recorded, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    client.get("/nothing", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert recorded.one()["client_ip"] == "203.0.113.5"
