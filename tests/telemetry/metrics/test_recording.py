"""What requests add to the metrics: one observation each, by URL pattern, method and status,
with labels that stay bounded whatever a client sends."""

import uuid

import pytest

from tests.samples import label_sets, total
from tests.telemetry.metrics.conftest import scrape

pytestmark = pytest.mark.django_db
HTTP_COUNT = "http_server_request_duration_seconds_count"


def counted(samples, route: str, method: str, status: str) -> float:
    labels = {"http_route": route, "http_request_method": method}
    return total(samples, HTTP_COUNT, **labels, http_response_status_code=status)


def test_requests_are_counted_by_url_pattern_method_and_status(client, scraper, recorded):
    before = scrape(client, scraper)
    client.get("/v1/models/first")
    client.get("/v1/models/second/with/slashes")
    client.get("/no/such/path")
    client.generic("BREW", "/v1/models")
    after = scrape(client, scraper)
    assert (
        counted(after, "/v1/models/<path:model>", "GET", "401")
        - counted(before, "/v1/models/<path:model>", "GET", "401")
        == 2
    )
    assert counted(after, "other", "GET", "404") - counted(before, "other", "GET", "404") == 1
    assert (
        counted(after, "/v1/models", "_OTHER", "401")
        - counted(before, "/v1/models", "_OTHER", "401")
        == 1
    )
    assert len(recorded.events()) == 4  # one event per request, one observation per event


def test_label_values_stay_bounded_whatever_clients_send(client, scraper, recorded, user_token):
    client.get("/v1/models/warm-up")
    client.get("/warm-up")
    before = label_sets(scrape(client, scraper), HTTP_COUNT)
    noises = [uuid.uuid4().hex for _ in range(30)]
    for noise in noises:
        client.get(f"/v1/models/{noise}?q={noise}")
        client.get(f"/{noise}")
        client.generic(noise[:8].upper(), f"/v1/models/{noise}")
    after = scrape(client, scraper)
    new = label_sets(after, HTTP_COUNT) - before
    # 90 requests to 90 different URLs: one new series at most (the unknown method).
    assert len(new) <= 1, new
    values = " ".join(value for sample in after for value in sample.labels.values())
    assert not [noise for noise in noises if noise[:8] in values.lower()]


def test_what_a_client_writes_into_an_event_is_not_what_is_counted(
    client, scraper, recorded, user_token
):
    """POST /telemetry makes the request's event out of the body: the metrics count the
    request as measured, and no LLM usage."""
    before = scrape(client, scraper)
    metadata = {"method": "FORGED", "status_code": 503, "endpoint": "/forged", "model": "gemini"}
    metadata |= {"prompt_tokens": 10**9, "completion_tokens": 10**9}
    body = {"event_type": "llm_completion", "metadata": metadata}
    response = client.post("/telemetry", body, format="json", HTTP_X_API_TOKEN=user_token)
    assert response.status_code == 200
    assert recorded.one()["status_code"] == 503  # the event says what the client said
    after = scrape(client, scraper)
    assert (
        counted(after, "/telemetry", "POST", "200") - counted(before, "/telemetry", "POST", "200")
        == 1
    )
    for name in ("gen_ai_client_token_usage_sum", "gen_ai_client_token_usage_count"):
        assert total(after, name) == total(before, name)
    assert not [s for s in after if "FORGED" in s.labels.values() or "/forged" in str(s.labels)]


def test_latency_is_observed_in_seconds(client, scraper, recorded):
    before = scrape(client, scraper)
    client.get("/no/such/path")
    (event,) = recorded.events()
    after = scrape(client, scraper)
    labels = {"http_route": "other", "http_request_method": "GET"}
    observed = total(after, "http_server_request_duration_seconds_sum", **labels) - total(
        before, "http_server_request_duration_seconds_sum", **labels
    )
    assert observed == pytest.approx(event["latency_ms"] / 1000, abs=1e-9)
