"""A scrape of /metrics through every middleware, as Prometheus would make it."""

import pytest

from tests.samples import parse

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def scraper(settings):
    """/metrics turned on with a token; the headers Prometheus would send."""
    settings.METRICS = {**settings.METRICS, "TOKEN": TOKEN}
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


def scrape(client, headers: dict) -> list:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return parse(response.content.decode())
