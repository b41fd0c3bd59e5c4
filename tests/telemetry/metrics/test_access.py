"""Who may read /metrics: off by default, then a bearer token, an address allow-list, or both;
never the gateway's JWTs or rate limits, and never a telemetry event."""

import pytest
from rest_framework.test import APIClient

from tests.site.test_settings import PRODUCTION, manage
from tests.telemetry.metrics.conftest import TOKEN

BEARER = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.django_db  # a scrape reads the budgets


def metrics_settings(settings, **conf):
    settings.METRICS = {**settings.METRICS, "TOKEN": "", "ALLOWED_IPS": [], **conf}


@pytest.mark.parametrize("method", ["get", "post", "head"])
def test_with_neither_a_token_nor_addresses_metrics_do_not_exist(client, settings, method):
    metrics_settings(settings)
    response = getattr(client, method)("/metrics", **BEARER)
    assert response.status_code == 404
    if method != "head":
        assert response.json()["code"] == "not_found"  # as any unknown path answers


def test_the_token_is_required_and_checked(client, settings):
    metrics_settings(settings, TOKEN=TOKEN)
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert missing.json()["code"] == "not_authenticated"
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, f"Basic {TOKEN}", "Bearer "):
        assert client.get("/metrics", HTTP_AUTHORIZATION=wrong).status_code == 401, wrong
    answered = client.get("/metrics", **BEARER)
    assert answered.status_code == 200
    assert answered["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE http_server_request_duration_seconds histogram" in answered.content


def test_an_allowed_address_needs_no_token(client, settings):
    metrics_settings(settings, ALLOWED_IPS=["10.0.0.0/8", "127.0.0.1"])
    assert client.get("/metrics").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="192.168.1.5")
    assert refused.status_code == 403
    assert refused.json()["code"] == "address_not_allowed"
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200


def test_with_both_a_scrape_needs_the_token_and_an_allowed_address(client, settings):
    metrics_settings(settings, TOKEN=TOKEN, ALLOWED_IPS=["10.0.0.0/8"])
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.9", **BEARER).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.9").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **BEARER).status_code == 403


def test_the_address_is_the_one_a_trusted_proxy_vouches_for(client, settings):
    metrics_settings(settings, ALLOWED_IPS=["10.1.2.3"])
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    behind_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    assert (
        client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3", **behind_proxy).status_code == 200
    )
    assert (
        client.get("/metrics", HTTP_X_FORWARDED_FOR="10.9.9.9", **behind_proxy).status_code == 403
    )
    # An untrusted caller cannot claim an allowed address.
    forged = client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3", REMOTE_ADDR="192.0.2.1")
    assert forged.status_code == 403


def test_prometheus_may_scrape_over_plain_http(settings):
    """As load balancers probe /health: production redirects everything else to HTTPS."""
    metrics_settings(settings, TOKEN=TOKEN)
    settings.SECURE_SSL_REDIRECT = True  # the production default (off in the test settings)
    client = APIClient()  # a new client loads the middleware with the setting
    assert client.get("/v1/models").status_code == 301
    assert client.get("/metrics", **BEARER).status_code == 200


def test_only_get_is_answered(client, settings):
    metrics_settings(settings, TOKEN=TOKEN)
    response = client.post("/metrics", **BEARER)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_prometheus_gets_openmetrics_when_it_asks(client, settings):
    metrics_settings(settings, TOKEN=TOKEN)
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = client.get("/metrics", HTTP_ACCEPT=accept, **BEARER)
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.endswith(b"# EOF\n")


def test_the_gateway_authentication_and_rate_limits_do_not_apply(client, settings):
    """The API's throttle (RATE_LIMIT per SOEID) and its JWT checks would refuse these."""
    metrics_settings(settings, TOKEN=TOKEN)
    settings.RATE_LIMIT = 1
    statuses = {client.get("/metrics", HTTP_X_API_TOKEN="not-a-jwt", **BEARER).status_code}
    statuses |= {client.get("/metrics", **BEARER).status_code for _ in range(5)}
    assert statuses == {200}


def test_metrics_are_not_an_operation_of_the_api_schema(client, settings):
    """Not JSON, not for API clients: out of /docs and of the schema-driven fuzzing."""
    metrics_settings(settings, TOKEN=TOKEN)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "/health" in schema["paths"] and "/metrics" not in schema["paths"]


def test_metrics_requests_are_never_telemetry_events(client, settings, recorded):
    metrics_settings(settings, TOKEN=TOKEN)
    client.get("/metrics", **BEARER)  # 200
    client.get("/metrics")  # 401
    client.post("/metrics", **BEARER)  # 405
    metrics_settings(settings)
    client.get("/metrics")  # 404: off
    client.get("/no-such-endpoint")
    assert [event["endpoint"] for event in recorded.events()] == ["/no-such-endpoint"]


def test_a_short_token_stops_the_service_in_production():
    result = manage("check", **PRODUCTION, METRICS_TOKEN="short")
    assert result.returncode != 0
    assert "METRICS_TOKEN is missing or shorter than 32 characters" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("variable", ["METRICS_ALLOWED_IPS", "TRUSTED_PROXIES"])
def test_a_malformed_address_stops_the_service_with_one_message(variable):
    result = manage("check", **PRODUCTION, **{variable: "10.0.0.0/8,prometheus.local"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dgen-ping will not start: {variable}: 'prometheus.local' is not an IP address or "
        "network (e.g. 10.0.0.5, 10.0.0.0/8)."
    )
