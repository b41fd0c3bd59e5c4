"""Security headers in production mode (the test settings: DEBUG off), on every kind of
answer: success, refusal, error, and those the request guards give before any view runs.

HSTS is sent over HTTPS only (RFC 6797), which here means a request the test client makes
with secure=True, or one a TLS-terminating proxy marks with X-Forwarded-Proto: https (believed
only with BEHIND_TLS_PROXY=true).
"""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains; preload"
PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def answers(client, **extra) -> dict:
    """One answer of each kind, by name and expected status."""
    post = {"content_type": "application/json", **extra}
    secret = {"HTTP_X_TOKEN_SECRET": settings.TOKEN_SECRET}
    chunked = {**post, "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"}
    return {
        ("health", 200): client.get("/health", **extra),
        ("schema", 200): client.get("/api/schema/", **extra),
        ("issued", 200): client.post("/generate-token", {"soeid": "h"}, **secret, **post),
        ("wrong-secret", 403): client.post("/generate-token", {}, HTTP_X_TOKEN_SECRET="x", **post),
        ("no-token-seed", 401): client.post("/api/llm/completion", {}, **post),
        ("no-token-openai", 401): client.get("/v1/models", **extra),
        ("not-found", 404): client.get("/no/such/page", **extra),
        ("bad-method", 405): client.put("/generate-token", **secret, **extra),
        ("too-large", 413): client.post("/telemetry", "{}", **post, CONTENT_LENGTH="99999999"),
        ("chunked", 411): client.post("/telemetry", "{}", **chunked),
    }


@pytest.mark.parametrize(
    "https", [{"secure": True}, {"HTTP_X_FORWARDED_PROTO": "https"}], ids=["tls", "tls-proxy"]
)
def test_every_answer_over_https_carries_the_security_headers(client, settings, https):
    if "HTTP_X_FORWARDED_PROTO" in https:
        settings.SECURE_PROXY_SSL_HEADER = PROXY_SSL_HEADER  # BEHIND_TLS_PROXY=true
    for (name, status), response in answers(client, **https).items():
        assert response.status_code == status, name
        for header, value in {**HEADERS, "Strict-Transport-Security": HSTS}.items():
            assert response.get(header) == value, (name, header)


def test_hsts_is_not_sent_over_plain_http(client):
    for (name, _), response in answers(client).items():
        assert "Strict-Transport-Security" not in response, name
        assert response["X-Content-Type-Options"] == "nosniff", name


def test_x_forwarded_proto_is_not_believed_unless_behind_a_tls_proxy(client):
    # Anyone can send the header to a gateway reached directly (the default, BEHIND_TLS_PROXY off).
    for (name, _), response in answers(client, HTTP_X_FORWARDED_PROTO="https").items():
        assert "Strict-Transport-Security" not in response, name


def test_plain_http_is_redirected_to_https_except_health(settings):
    settings.SECURE_SSL_REDIRECT = True  # the production default (off in the test settings)
    client = APIClient()  # a new client loads the middleware with the setting
    redirected = client.get("/v1/models")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/v1/models"
    assert client.get("/health").status_code == 200  # load balancers probe over HTTP
