"""Fixtures of the accounts tests."""

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def staff(db) -> Client:
    """A client signed in to the Django admin as a superuser."""
    User.objects.create_superuser("root", "root@example.com", "a-long-test-password")
    client = Client()
    client.login(username="root", password="a-long-test-password")
    return client
