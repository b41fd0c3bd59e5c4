"""The pages a person opens, in a real browser, on both ways of serving the gateway."""

import pytest

from tests.browser import browser, development_site, fake_upstream, production_site  # noqa: F401


@pytest.fixture(params=["production", "development"])
def site(request):
    """Each page test runs against `make serve`'s gateway and against `make run`'s."""
    return request.getfixturevalue(f"{request.param}_site")
