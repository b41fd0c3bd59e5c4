"""A real browser on a real server, for the tests of pages (tests/pages, and those that follow).

Debian's chromium, driven by selenium through Debian's chromedriver, opens the gateway as
deployed (`production_site`: gunicorn, production settings, static files collected as
`make serve` does) or as `make run` serves it (`development_site`: runserver, DEBUG on).
A package's conftest.py imports the fixtures it needs:

    from tests.browser import browser, development_site, fake_upstream, production_site  # noqa

and its tests call `browser.open(site.url + "/docs")`, `browser.wait_for(css)`,
`browser.screenshot("label")`, `browser.login_as_staff(site)`.

No request may leave 127.0.0.1. chromium starts with every other host unresolvable and a
dead proxy for any other address, so such a request fails at once, and its DevTools network
events are recorded: a test fails at teardown when one of its pages asked for anything
elsewhere (a request the page's own Content-Security-Policy stopped was never sent).
Screenshots go to test-artifacts/screenshots/, one per test at least, named after it.
"""

import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.security.gateway import Gateway, fake_upstream, routes  # noqa: F401 (fixture)
from tests.telemetry import servers
from tests.tools import missing_tool

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver"
SCREENSHOTS = servers.ROOT / "test-artifacts" / "screenshots"
# Bounds, not expectations: a page that needs this long has failed (the machine is shared).
PAGE_TIMEOUT = 60

# Headless as root, with none of chromium's own calls home (updates, sync, safe browsing).
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,1000",
    # Anything not on the loopback fails loudly: names do not resolve, and addresses go to
    # a proxy on the discard port, where nothing listens (loopback bypasses proxies).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
NETWORK_SCHEMES = {"http", "https", "ws", "wss"}


@dataclass
class Request:
    """One request a page made, as DevTools reported it."""

    url: str
    status: int = 0
    error: str = ""
    # Why the browser itself refused to send it (e.g. "csp"): such a request never left.
    blocked: str = ""

    @property
    def outside(self) -> bool:
        """Asked of a host other than this machine, and not stopped by the browser first."""
        parts = urlsplit(self.url)
        return (
            parts.scheme in NETWORK_SCHEMES
            and parts.hostname not in LOCAL_HOSTS
            and not self.blocked
        )

    @property
    def failed(self) -> bool:
        return bool(self.error) or self.status >= 400


class Browser:
    """One chromium with a fresh profile, and what its pages asked of the network."""

    def __init__(self, driver, name: str):
        self.driver = driver
        self.name = name
        self._requests: dict[str, Request] = {}

    # --- driving -----------------------------------------------------------------------------

    def open(self, url: str) -> None:
        self.driver.get(url)

    def wait_for(self, css: str, count: int = 1) -> list:
        """The elements matching `css`, once there are at least `count` of them."""

        def found(driver):
            elements = driver.find_elements(By.CSS_SELECTOR, css)
            return elements if len(elements) >= count else False

        return WebDriverWait(self.driver, PAGE_TIMEOUT).until(found)

    def text(self, css: str = "body") -> str:
        return self.wait_for(css)[0].text

    def send_headers(self, **headers: str) -> None:
        """Sent with every request from now on (a token, as an API client sends it)."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})

    def login_as_staff(self, site: Gateway, username: str = "staff", password: str = "") -> str:
        """Signs in through the admin's login page as a staff user made for this (in the
        site's own database); returns the username."""
        password = password or "a-long-staff-password-for-tests"
        create_staff_user(site, username, password)
        self.open(f"{site.url}/admin/login/?next=/admin/")
        self.wait_for("input[name=username]")[0].send_keys(username)
        self.wait_for("input[name=password]")[0].send_keys(password)
        self.wait_for("input[type=submit]")[0].click()
        self.wait_for("#user-tools")  # the admin's "Welcome, <user>" bar: signed in
        return username

    # --- evidence ----------------------------------------------------------------------------

    def screenshot(self, label: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / (f"{self.name}--{label}.png" if label else f"{self.name}.png")
        self.driver.save_screenshot(str(path))
        return path

    def requests(self) -> list[Request]:
        """Every request made since the browser started (DevTools' network events)."""
        for entry in self.driver.get_log("performance"):
            self._record(json.loads(entry["message"])["message"])
        return list(self._requests.values())

    def outside_requests(self) -> list[Request]:
        return [request for request in self.requests() if request.outside]

    def failed_requests(self) -> list[Request]:
        return [request for request in self.requests() if request.failed]

    def _record(self, event: dict) -> None:
        method, params = event["method"], event["params"]
        request_id = params.get("requestId", "")
        if method == "Network.requestWillBeSent":
            # A redirect reuses the id: the new URL is a new request.
            key = request_id if request_id not in self._requests else f"{request_id}>"
            self._requests[key] = Request(params["request"]["url"])
            return
        request = self._requests.get(f"{request_id}>") or self._requests.get(request_id)
        if request is None:
            return
        if method == "Network.responseReceived":
            request.status = params["response"]["status"]
        elif method == "Network.loadingFailed":
            request.error = params.get("errorText", "")
            request.blocked = params.get("blockedReason", "")


def require_chromium() -> None:
    """Skip, saying how to install them, when chromium or chromedriver is missing; in CI
    (which installs them, .ci/run) fail instead, so page tests never silently vanish."""
    if not (CHROMIUM and CHROMEDRIVER):
        missing_tool(f"chromium and chromedriver are needed for the page tests: {INSTALL}")


@contextlib.contextmanager
def chromium(name: str) -> Iterator[Browser]:
    """A headless chromium with a throwaway profile, closed afterwards."""
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="dgen-ping-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            yield Browser(driver, name)
        finally:
            driver.quit()


def artifact_name(nodeid: str) -> str:
    """tests/pages/test_docs.py::test_x[production] -> pages-test_docs-test_x-production"""
    name = nodeid.removeprefix("tests/").replace(".py::", "-")
    return re.sub(r"[^\w.]+", "-", name).strip("-")


def create_staff_user(site: Gateway, username: str, password: str) -> None:
    """A staff user (not a superuser) in the site's database, as an administrator makes one."""
    code = (
        "import os; from django.contrib.auth.models import User; "
        "User.objects.filter(username=os.environ['STAFF_USERNAME']).delete(); "
        "User.objects.create_user(os.environ['STAFF_USERNAME'], "
        "password=os.environ['STAFF_PASSWORD'], is_staff=True)"
    )
    env = {**site.env, "STAFF_USERNAME": username, "STAFF_PASSWORD": password}
    command = [sys.executable, "manage.py", "shell", "-c", code]
    subprocess.run(command, cwd=servers.ROOT, env=env, check=True, capture_output=True)


class DevelopmentSite(Gateway):
    """`make run`: Django's development server with DEBUG on and the default token allowed."""

    def start(self) -> "DevelopmentSite":
        migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
        subprocess.run(migrate, cwd=servers.ROOT, env=self.env, check=True, capture_output=True)
        address = f"127.0.0.1:{self.port}"
        self.process = servers.start(
            ["manage.py", "runserver", "--noreload", address], self.directory, self.env
        )
        servers.wait_until_serving(self.port, self.process)
        return self


def collect_static(directory: Path) -> Path:
    """`manage.py collectstatic`, as `make serve` and the Docker image run it."""
    env = servers.server_env(directory, 0, STATIC_ROOT=str(directory / "static"))
    command = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(command, cwd=servers.ROOT, env=env, check=True, capture_output=True)
    return directory / "static"


# --- Fixtures, imported by the conftest of each package that uses them --------------------


# Package scope: each package that imports them gets its own servers, stopped after its tests.
@pytest.fixture(scope="package")
def production_site(tmp_path_factory, fake_upstream):  # noqa: F811 (the imported fixture)
    """The gateway as `make serve` runs it: collectstatic, then gunicorn with production
    settings (DEBUG off, default token off) and a routing table aimed at the fake upstream."""
    directory = tmp_path_factory.mktemp("production-site")
    static = collect_static(directory)
    site = Gateway.configure(directory, routes(fake_upstream), STATIC_ROOT=str(static))
    with site:
        yield site


@pytest.fixture(scope="package")
def development_site(tmp_path_factory, fake_upstream):  # noqa: F811 (the imported fixture)
    """The gateway as `make run` serves it: runserver, DEBUG on, no collectstatic."""
    directory = tmp_path_factory.mktemp("development-site")
    site = DevelopmentSite.configure(
        directory, routes(fake_upstream), DEBUG="true", ALLOW_DEFAULT_TOKEN="true"
    )
    with site:
        yield site


@pytest.fixture
def browser(request) -> Iterator[Browser]:
    """A fresh chromium for one test. At teardown it keeps a screenshot of the last page and
    fails the test if any page asked for anything outside 127.0.0.1."""
    with chromium(artifact_name(request.node.nodeid)) as page:
        yield page
        with contextlib.suppress(Exception):  # a broken browser must not hide the test's error
            page.screenshot()
        outside = page.outside_requests()
    assert not outside, f"requests left 127.0.0.1: {outside}"
