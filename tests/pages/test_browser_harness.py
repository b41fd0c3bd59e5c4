"""The browser harness (tests/browser.py) itself: it must catch what it promises to catch."""

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from tests import browser as harness


def test_a_request_for_another_host_fails_at_once_and_is_reported():
    with harness.chromium("pages-harness-outside-request") as page:
        page.open("data:text/html,<img src='http://outside.invalid/pixel.png'>")
        WebDriverWait(page.driver, harness.PAGE_TIMEOUT).until(
            lambda _: any(r.error for r in page.outside_requests())
        )
        outside = page.outside_requests()

    assert [r.url for r in outside] == ["http://outside.invalid/pixel.png"]
    assert outside[0].error.startswith("net::ERR_")


def test_screenshots_are_named_after_the_test():
    name = harness.artifact_name("tests/pages/test_docs.py::test_redoc[production]")
    assert name == "pages-test_docs-test_redoc-production"


def test_without_chromium_page_tests_skip_saying_how_to_install(monkeypatch):
    monkeypatch.setattr(harness, "CHROMIUM", None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=harness.INSTALL):
        harness.require_chromium()


def test_in_ci_missing_chromium_fails_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(harness, "CHROMEDRIVER", None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=harness.INSTALL):
        harness.require_chromium()
