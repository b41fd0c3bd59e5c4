"""/health reports the telemetry chain as the writer sees it, and always answers 200."""

import time

import pytest

from tests.telemetry.conftest import FLAKY_CLIENT

pytestmark = pytest.mark.django_db

MONGO = "telemetry.backends.mongo.MongoBackend"


def wait_for_status(client, wanted: str) -> dict:
    for _ in range(300):  # bounded: the writer thread gets there in a few milliseconds
        body = client.get("/health").json()
        if body["database"]["status"] == wanted:
            return body
        time.sleep(0.01)
    return body


def test_a_working_store_is_healthy(client, recorded):
    body = wait_for_status(client, "connected")
    assert body["status"] == "healthy"
    database = body["database"]
    assert database["backend"] == "csv"
    assert {"spooled", "quarantined", "corrupt", "last_error", "last_write"} <= database.keys()
    assert database["stores"] == [
        {"alias": "csv", "state": "up", "active": True, "retry_in": None, "last_error": None}
    ]


def test_on_the_csv_fallback_it_is_degraded_but_still_200(
    client, recorded, settings, flaky_mongo, csv_config
):
    uri = "mongodb://reporter:s3cret-pass@primary:27017"
    flaky_mongo.down(uri)
    primary = {"BACKEND": MONGO, "OPTIONS": {"uri": uri, "client_factory": FLAKY_CLIENT}}
    settings.TELEMETRY = {
        **settings.TELEMETRY,
        "STORES": {"primary": primary, "csv": csv_config},
        "CHAIN": ["primary", "csv"],
    }
    settings.TELEMETRY_BACKEND = "mongo"
    client.get("/counted")
    body = wait_for_status(client, "csv_fallback")
    assert body["status"] == "degraded"
    database = body["database"]
    assert database["backend"] == "mongo"
    assert "connection refused" in database["last_error"]
    primary_state, csv_state = database["stores"]
    assert (primary_state["alias"], primary_state["state"], primary_state["active"]) == (
        "primary",
        "down",
        False,
    )
    assert primary_state["retry_in"] > 0 and "connection refused" in primary_state["last_error"]
    assert (csv_state["alias"], csv_state["state"], csv_state["active"]) == ("csv", "up", True)
    assert "s3cret-pass" not in str(body)  # credentials never leave the process
    assert len(recorded.events()) == 1  # the request went to the fallback CSV
    assert client.get("/health").status_code == 200


def test_a_misconfigured_store_is_reported_not_a_500(client, recorded, settings):
    settings.TELEMETRY = {
        **settings.TELEMETRY,
        "STORES": {"csv": {"BACKEND": "telemetry.backends.nope.Store"}},
    }
    response = client.get("/health")
    assert response.status_code == 200
    database = response.json()["database"]
    assert database["status"] == "misconfigured"
    assert "telemetry.backends.nope.Store" in database["last_error"]
