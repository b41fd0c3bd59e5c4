"""No exception reaches gunicorn, whose answer to one is an HTML page and no telemetry event:
the guard around the WSGI application (dgen_ping_site.wsgi_errors) answers in JSON and the
request keeps its one event. The gateway runs under gunicorn with URLs that fail where
Django does not catch it (tests/site/faulty_urls.py)."""

import json

import pytest

from telemetry.backends.csv import CSVBackend
from tests.telemetry import servers

pytestmark = pytest.mark.slow

SERVER_ERROR = {"detail": "Internal server error.", "code": "server_error"}


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict:
    """Each failing request's reply, and the events stored once the gateway stopped."""
    tmp = tmp_path_factory.mktemp("wsgi-errors")
    port = servers.free_port()
    # One worker: the one whose first request (the wait for it to serve) loaded the URLs.
    settings = {"DJANGO_SETTINGS_MODULE": "tests.site.faulty_settings", "WEB_CONCURRENCY": "1"}
    env = servers.server_env(tmp, port, **settings)
    with servers.deployed(tmp, port, env) as process:
        replies = {
            "outside": servers.fetch(port, "GET", "/v1/models", **{"X-Fail": "outside"}),
            "stream": servers.fetch(port, "GET", "/fail/stream"),
            "events": servers.fetch(port, "GET", "/fail/events"),
        }
        assert servers.stop(process) == 0
    events = list(CSVBackend(tmp / "csv").iter_events())
    return {"replies": replies, "events": events, "log": (tmp / "server.log").read_text()}


def one_event(answers, reply) -> dict:
    [event] = [e for e in answers["events"] if e["request_id"] == reply.request_id]
    return event


@pytest.mark.parametrize("failure", ["outside", "stream"])
def test_an_error_django_does_not_catch_is_a_json_500_with_its_event(answers, failure):
    reply = answers["replies"][failure]
    assert reply.status == 500
    assert reply.headers["content-type"] == "application/json"
    assert json.loads(reply.body) == SERVER_ERROR
    event = one_event(answers, reply)
    assert event["status_code"] == 500
    assert event["error"].startswith("server_error: ")


def test_a_stream_failing_midway_ends_with_an_error_event(answers):
    reply = answers["replies"]["events"]
    assert reply.status == 200  # sent before the failure
    assert reply.body.endswith(
        b'data: {"error": {"message": "Internal server error.", "code": "server_error"}}\n\n'
    )
    event = one_event(answers, reply)
    assert (event["status_code"], event["error"]) == (
        500,
        "server_error: the stream failed (RuntimeError)",
    )


def test_gunicorn_never_answered_with_its_own_page(answers):
    assert "Error handling request" not in answers["log"]  # gunicorn's log line for it
    for reply in answers["replies"].values():
        assert b"<html" not in reply.body
