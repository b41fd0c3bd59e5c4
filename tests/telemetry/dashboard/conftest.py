"""Fixtures of the dashboard's tests: a signed-in staff user, and traffic of recent days."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from dgen_ping_site.clock import iso_utc, utcnow
from tests.browser import browser, fake_upstream  # noqa: F401 (fixtures of the page tests)
from tests.telemetry.test_rollups import traffic

PASSWORD = "a-long-staff-password-for-tests"


@pytest.fixture
def staff_client(db) -> Client:
    """Signed in through Django's session login as staff (not a superuser)."""
    User.objects.create_user("ops", password=PASSWORD, is_staff=True)
    client = Client()
    assert client.login(username="ops", password=PASSWORD)
    return client


def recent_traffic(count: int = 400, days: int = 10, seed: int = 11) -> list[dict]:
    """Events spread over today and the days before it (UTC), an hour apart or so."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    events = traffic(count, seed)
    for i, event in enumerate(events):
        moment = now - timedelta(days=i % days, hours=(i // days) % max(1, now.hour + 1))
        event["timestamp"] = iso_utc(moment)
    return events


@pytest.fixture
def recent(report_store) -> list[dict]:
    """The report store (CSV, mongomock, real MongoDB) holding recent traffic."""
    events = recent_traffic()
    for start in range(0, len(events), 100):
        report_store.write_batch(events[start : start + 100])
    return events
