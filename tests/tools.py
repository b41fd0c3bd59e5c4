"""Programs the tests need beyond Python (chromium, Prometheus), installed by `.ci/run`."""

import os
from typing import NoReturn

import pytest


def missing_tool(message: str) -> NoReturn:
    """Skip, saying how to install it; in CI, which installs it, fail instead, so that the
    tests that need it never silently vanish."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
