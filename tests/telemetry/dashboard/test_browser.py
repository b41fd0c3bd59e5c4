"""The dashboard in Debian's chromium, on the gateway as deployed (gunicorn, production
settings, collectstatic), after real traffic through it to a fake upstream: signed in as
staff, the figures on the page are those of `manage.py telemetry_stats` for the same
filters, every chart is drawn, filters and drill-downs work, the download is `manage.py
export_telemetry`'s for the same filters, a user token is not enough, and nothing is asked
of any host but 127.0.0.1 (the `browser` fixture fails the test otherwise).

Screenshots: test-artifacts/screenshots/telemetry-dashboard-test_browser-*.png (those in
docs/images/ were taken here).
"""

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select

from dgen_ping_site.clock import utcnow
from tests.browser import Browser, collect_static
from tests.security.gateway import UPSTREAM_KEY, Gateway
from tests.telemetry import servers

pytestmark = pytest.mark.slow

FIGURES = (
    "requests", "prompt_tokens", "completion_tokens", "cost", "errors",
    "p50_latency_ms", "p95_latency_ms",
)  # fmt: skip
# The browser's own pages are not recorded, so the figures hold still while it looks.
EXCLUDED = "/health,/docs,/redoc,/api/schema/,/static/,/favicon.ico,/admin/,/dashboard/"


def dashboard_routes(fake) -> dict:
    """A priced model, an unpriced one, and one on Gemini's wire; retries off."""
    openai = {"provider": "openai", "base_url": fake.openai_url, "api_key": UPSTREAM_KEY}
    return {
        "defaults": {"retries": 0, "timeout": 5, "connect_timeout": 1},
        "routes": {
            "dash-priced": {**openai, "model": "up-dash", "price": {"input": 2.5, "output": 10}},
            "dash-plain": {**openai, "model": "up-dash-plain"},
            "dash-gemini": {
                "provider": "gemini",
                "base_url": fake.gemini_url,
                "api_key": UPSTREAM_KEY,
                "model": "up-dash-gemini",
                "price": {"input": 0.5, "output": 1.5},
            },
        },
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory, fake_upstream):
    """The gateway as `make serve` runs it, with budgets, then traffic of three people in
    two projects, an upstream error among the answers."""
    directory = tmp_path_factory.mktemp("dashboard-site")
    gateway = Gateway.configure(
        directory,
        dashboard_routes(fake_upstream),
        STATIC_ROOT=str(collect_static(directory)),
        TELEMETRY_EXCLUDED_PATHS=EXCLUDED,
        DEFAULT_MODEL="dash-priced",
    )
    with gateway:
        for budget in (
            ("--soeid", "alice", "--period", "day", "--tokens", "1000"),
            ("--project", "p2", "--period", "month", "--tokens", "400"),
            ("--soeid", "carol", "--period", "week", "--cost", "0.0002"),  # priced models only
            ("--default", "--period", "week", "--tokens", "100000"),
        ):
            manage(gateway, "budgets", "set", *budget)
        send_traffic(gateway, fake_upstream)
        yield gateway


def send_traffic(site: Gateway, fake) -> None:
    calls = {
        ("alice", "p1"): ["dash-priced"] * 4 + ["dash-plain"],
        ("bob", "p2"): ["dash-priced"] * 2 + ["dash-gemini"] * 2 + ["dash-plain"],
        ("carol", "p1"): ["dash-gemini"] * 3,
    }
    fake.script("up-dash-plain", "ok", "500")  # bob's plain call fails upstream: a 502
    sent = 0
    for (soeid, project), models in calls.items():
        token = site.issue_token(soeid, project_id=project)
        for model in models:
            body = {"prompt": f"hello from {soeid}", "model": model, "max_tokens": 50}
            response = site.post("/api/llm/completion", body, **{"X-API-Token": token})
            assert response.status_code in (200, 502), response.text
            sent += 1
    site.get("/v1/models")  # an unauthenticated request: recorded, no SOEID
    stored = site.wait_for_events(lambda event: True, at_least=sent + 4, timeout=30)
    assert len(stored) >= sent + 4  # 13 calls, 3 tokens issued, 1 refusal


def manage(site: Gateway, *args: str) -> str:
    command = [sys.executable, "manage.py", *args]
    done = subprocess.run(command, cwd=servers.ROOT, env=site.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def stats(site: Gateway, *options: str, days: int = 7) -> list[dict]:
    """telemetry_stats' rows for the last `days` UTC days, as the site's operator runs it."""
    today = utcnow().date()
    period = ["--since", (today - timedelta(days=days - 1)).isoformat()]
    period += ["--until", (today + timedelta(days=1)).isoformat()]
    return json.loads(manage(site, "telemetry_stats", "--format", "json", *period, *options))[
        "rows"
    ]


def exported(site: Gateway, *options: str, days: int) -> str:
    """`manage.py export_telemetry --format csv` of the last `days` UTC days, as written."""
    today = utcnow().date()
    period = ["--since", (today - timedelta(days=days - 1)).isoformat()]
    period += ["--until", (today + timedelta(days=1)).isoformat()]
    command = [sys.executable, "manage.py", "export_telemetry", "--format", "csv", *period]
    done = subprocess.run([*command, *options], cwd=servers.ROOT, env=site.env, capture_output=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def downloaded(browser: Browser) -> str:
    """What the page's download link gives, fetched by the page (its session's cookie)."""
    return browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('download-csv').href, {credentials: 'same-origin'})"
        ".then(r => r.ok ? r.text() : 'HTTP ' + r.status).then(done, e => done(String(e)));"
    )


def figures(browser: Browser) -> dict:
    shown = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-figure]'))"
        ".map(e => [e.dataset.figure, e.dataset.value])"
    )
    return {name: json.loads(value.replace("None", "null")) for name, value in shown}


def drawn_charts(browser: Browser) -> dict[str, int]:
    """Each chart's name -> how many of its canvas's pixels are painted."""
    return dict(
        browser.driver.execute_script(
            "return Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => {"
            "  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "  let painted = 0;"
            "  for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;"
            "  return [c.dataset.chart, c.dataset.drawn === 'true' ? painted : 0];"
            "})"
        )
    )


def whole_page(browser: Browser, label: str) -> None:
    """A screenshot of the whole page, not only the window's part of it."""
    height = browser.driver.execute_script("return document.documentElement.scrollHeight")
    browser.driver.set_window_size(1280, height + 120)
    browser.screenshot(label)


def assert_figures_are_telemetry_stats(
    browser: Browser, site: Gateway, *options: str, days: int = 7
) -> None:
    (expected,) = stats(site, *options, days=days)
    assert figures(browser) == {name: expected[name] for name in FIGURES}


def test_staff_see_the_figures_of_telemetry_stats_and_every_chart_drawn(browser, site):
    browser.login_as_staff(site)
    browser.wait_for("#usage-dashboard-link a")[0].click()  # from the admin's index
    browser.wait_for("#headline")
    assert browser.driver.current_url == site.url + "/dashboard/"
    assert_figures_are_telemetry_stats(browser, site)
    assert figures(browser)["cost"] > 0 and figures(browser)["errors"] == 2
    charts = drawn_charts(browser)
    assert set(charts) == {
        "requests", "tokens", "cost", "latency", "soeids", "projects", "errors", "budgets",
    }  # fmt: skip
    assert all(painted > 500 for painted in charts.values()), charts
    assert not browser.driver.find_elements("css selector", ".no-data")
    failed = [r for r in browser.failed_requests() if not r.url.endswith("/favicon.ico")]
    assert not failed, failed
    whole_page(browser, "overview")


def test_filters_change_the_figures_as_they_change_telemetry_stats(browser, site):
    browser.login_as_staff(site)
    browser.open(site.url + "/dashboard/")
    Select(browser.wait_for("#id_period")[0]).select_by_value("30d")
    browser.wait_for("#id_project")[0].send_keys("p1")
    browser.wait_for("#id_model")[0].send_keys("dash-priced")
    browser.wait_for("#filters button[type=submit]")[0].click()
    browser.wait_for("#period strong")
    assert "project=p1" in browser.driver.current_url
    options = ("--project", "p1", "--model", "dash-priced")
    assert_figures_are_telemetry_stats(browser, site, *options, days=30)
    assert all(painted > 0 for painted in drawn_charts(browser).values())
    csv = downloaded(browser)
    assert csv == exported(site, *options, days=30) and csv.count("\n") == 5  # header + 4
    whole_page(browser, "filtered")


@pytest.mark.parametrize("header", ["X-API-Token", "Authorization"])
def test_a_user_token_is_not_enough(browser, site, header):
    token = site.issue_token("alice", project_id="p1")
    browser.send_headers(**{header: token if header == "X-API-Token" else f"Bearer {token}"})
    for path in ("/dashboard/", "/dashboard/events.csv"):
        browser.open(site.url + path)
        browser.wait_for("input[name=password]")  # the admin's login page, nothing else
        assert browser.driver.current_url.startswith(f"{site.url}/admin/login/?next={path}")
        assert not browser.driver.find_elements("css selector", "[data-figure]")


def test_a_person_drills_down_from_the_table_and_from_the_chart(browser, site):
    browser.login_as_staff(site)
    browser.open(site.url + "/dashboard/")
    link = browser.wait_for("#top-soeids a")
    name = link[0].text
    link[0].click()
    browser.wait_for("#period strong")
    assert browser.driver.current_url.endswith(f"soeid={name}")
    assert_figures_are_telemetry_stats(browser, site, "--soeid", name)

    browser.open(site.url + "/dashboard/")
    canvas = browser.wait_for("canvas[data-chart=projects][data-drawn=true]")[0]
    label, x, y = browser.driver.execute_script(
        "const chart = Chart.getChart(arguments[0]); const bar = chart.getDatasetMeta(0).data[0];"
        "return [chart.data.labels[0], (bar.x + bar.base) / 2, bar.y];",
        canvas,
    )
    size = canvas.size
    # Selenium's offsets are from the element's centre; a bar's from the canvas' top left.
    ActionChains(browser.driver).move_to_element_with_offset(
        canvas, int(x - size["width"] / 2), int(y - size["height"] / 2)
    ).click().perform()
    browser.wait_for("#period strong")
    assert browser.driver.current_url.endswith(f"project={label}")
    assert_figures_are_telemetry_stats(browser, site, "--project", label)
    whole_page(browser, "drilled-down")
