"""The deploy test's upstream: the fake one the security suite uses."""

from tests.security.gateway import fake_upstream  # noqa: F401 (fixture)
