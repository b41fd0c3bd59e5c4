"""X-Forwarded-Proto says a request came over HTTPS; anyone can send it to a gateway reached
directly. It is believed only with BEHIND_TLS_PROXY=true (a TLS proxy in front that sets it),
by Django and not by gunicorn, whose own default believes it from 127.0.0.1."""

import pytest

from tests.security.gateway import Gateway, routes

pytestmark = pytest.mark.slow

HTTPS = {"X-Forwarded-Proto": "https"}


def start(tmp_path, fake_upstream, **overrides) -> Gateway:
    return Gateway.configure(
        tmp_path, routes(fake_upstream), SECURE_SSL_REDIRECT="true", **overrides
    ).start()


def test_by_default_the_header_is_not_believed(tmp_path, fake_upstream):
    gateway = start(tmp_path, fake_upstream)
    try:
        response = gateway.session.get(
            gateway.url + "/v1/models", headers=HTTPS, allow_redirects=False
        )
    finally:
        gateway.stop()
    assert response.status_code == 301  # still plain HTTP: sent to HTTPS
    assert response.headers["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in response.headers


def test_behind_a_tls_proxy_the_header_is_believed(tmp_path, fake_upstream):
    gateway = start(tmp_path, fake_upstream, BEHIND_TLS_PROXY="true")
    try:
        response = gateway.session.get(
            gateway.url + "/v1/models", headers=HTTPS, allow_redirects=False
        )
        plain = gateway.session.get(gateway.url + "/v1/models", allow_redirects=False)
    finally:
        gateway.stop()
    assert response.status_code == 401  # served as HTTPS: on to authentication
    assert "Strict-Transport-Security" in response.headers
    assert plain.status_code == 301
