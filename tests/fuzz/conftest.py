"""The fuzzer's gateway: production settings, gunicorn, a fake upstream."""

from tests.security.gateway import fake_upstream, gateway  # noqa: F401 (fixtures)
