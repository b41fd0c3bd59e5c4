import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_health_answers_200_with_the_spec_shape(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] in {"healthy", "degraded"}
    assert {"timestamp", "version"} <= body.keys()
    assert {"backend", "status"} <= body["database"].keys()


DOCUMENTATION = ["/api/schema/", "/docs", "/redoc"]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_root_describes_the_service(client):
    body = client.get("/").json()
    assert body["service"] == "dgen-ping"
    assert "/api/llm/completion" in body["endpoints"]


def test_root_lists_every_endpoint_of_the_schema_and_the_documentation(client):
    endpoints = client.get("/").json()["endpoints"]
    schema_paths = client.get("/api/schema/?format=json").json()["paths"]

    assert sorted(endpoints) == sorted([*schema_paths, *DOCUMENTATION])
    assert "/api/telemetry/usage/me" in endpoints


@pytest.mark.parametrize("path", DOCUMENTATION)
def test_documentation_is_served(client, path):
    assert client.get(path).status_code == 200


def test_schema_is_a_page_for_a_browser(client):
    response = client.get("/api/schema/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "Content-Disposition" not in response
    assert b"openapi: 3.1.0" in response.content


@pytest.mark.parametrize(
    ("query", "accept", "content_type"),
    [
        ("", "*/*", "application/vnd.oai.openapi; charset=utf-8"),
        ("?format=yaml", BROWSER_ACCEPT, "application/vnd.oai.openapi; charset=utf-8"),
        ("?format=json", BROWSER_ACCEPT, "application/vnd.oai.openapi+json"),
        ("", "application/json", "application/json"),
    ],
)
def test_schema_is_a_file_for_tools(client, query, accept, content_type):
    response = client.get(f"/api/schema/{query}", HTTP_ACCEPT=accept)
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith('inline; filename="dgen-ping.')


def test_openapi_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns any drf-spectacular warning into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    schema = (tmp_path / "s.yml").read_text()
    assert "X-Token-Secret" in schema
    assert "X-API-Token" in schema


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/no/such/thing", "/api/budgets/a%0Ab", "/x%0D%0A"])
def test_any_unknown_path_is_a_json_404_in_development_too(client, settings, debug, path):
    settings.DEBUG = debug
    response = client.delete(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_path_is_a_json_404(method):
    # enforce_csrf_checks: as a real client is treated (the test client skips CSRF by default).
    response = getattr(APIClient(enforce_csrf_checks=True), method)("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_body_over_the_limit_is_413_on_any_endpoint(client, settings, secret_headers):
    big = "x" * (settings.MAX_REQUEST_BODY_BYTES + 1)
    for path in ("/generate-token", "/verify-token", "/no/such/thing"):
        response = client.post(path, data=big, content_type="application/json", **secret_headers)
        assert response.status_code == 413
        assert response.json()["code"] == "request_too_large"
