"""Fixtures shared by every test package."""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.tokens import issue_token


@pytest.fixture
def client():
    """DRF's test client: real request/response cycle through every middleware."""
    return APIClient()


@pytest.fixture
def secret_headers():
    return {"HTTP_X_TOKEN_SECRET": settings.TOKEN_SECRET}


@pytest.fixture
def user_token(db):
    return issue_token(soeid="alice", project_id="proj-a").token


@pytest.fixture
def default_token_on(settings):
    settings.ALLOW_DEFAULT_TOKEN = True
