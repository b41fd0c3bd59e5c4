"""Sessions, Django users and messages run for /admin/ only (dgen_ping_site.middleware)."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def test_admin_login_keeps_a_session_and_is_csrf_protected():
    User.objects.create_superuser("root", "root@example.com", "a-long-test-password")
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/")
    assert page.status_code == 200
    form = {"username": "root", "password": "a-long-test-password", "next": "/admin/"}

    assert client.post("/admin/login/", form).status_code == 403  # no CSRF token

    token = client.cookies["csrftoken"].value
    response = client.post("/admin/login/", {**form, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_requests_get_a_session_user_and_messages(client):
    request = client.get("/admin/login/").wsgi_request
    assert hasattr(request, "session")
    assert hasattr(request, "_messages")
    assert not request.user.is_authenticated


@pytest.mark.parametrize("path", ["/health", "/no/such/thing", "/api/schema/"])
def test_other_requests_skip_sessions_users_and_messages(client, path):
    response = client.get(path)
    request = response.wsgi_request
    assert not hasattr(request, "session")
    assert not hasattr(request, "_messages")
    assert "sessionid" not in response.cookies
