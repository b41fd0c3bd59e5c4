"""A real Prometheus scrapes the gateway as deployed (gunicorn, 2 workers, production
settings) and counts what was sent; promtool finds the exposition clean; a killed worker's
counts stay and its gauges go; a previous run's files are not counted."""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.browser import browser  # noqa: F401 (a fixture)
from tests.fake_upstream import FakeUpstream
from tests.prometheus_server import PrometheusServer, promtool_check, require_prometheus
from tests.reliability.gateway import wait_until
from tests.samples import parse, total
from tests.security.gateway import Gateway, routes
from tests.telemetry import servers
from tests.telemetry.metrics.conftest import TOKEN

pytestmark = pytest.mark.slow

HTTP_COUNT = "http_server_request_duration_seconds_count"
STALE_ROUTE = "left-by-a-previous-run"


@dataclass
class Deployment:
    fake: FakeUpstream
    gateway: Gateway
    prometheus: PrometheusServer

    @property
    def metrics_dir(self) -> Path:
        return self.gateway.directory / "spool" / "metrics"

    def workers(self) -> set[int]:
        return servers.children(self.gateway.process.pid)

    def send(self, method: str, path: str, body=None, token: str = "") -> servers.Reply:
        """On a connection of its own, so the kernel spreads requests over both workers."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body) if body is not None else ""
        reply = servers.fetch(self.gateway.port, method, path, data, **headers)
        assert reply is not None, f"no answer from {method} {path}"
        return reply

    def scrape(self) -> str:
        reply = servers.fetch(self.gateway.port, "GET", "/metrics", Authorization=f"Bearer {TOKEN}")
        assert reply.status == 200, reply
        return reply.body.decode()

    def total(self, expr: str) -> float | None:
        return self.prometheus.value(f"sum({expr})")


def leave_stale_metrics(directory: Path) -> None:
    """A counter file as a process of an earlier run (same directory) would have left it."""
    directory.mkdir(parents=True, exist_ok=True)
    code = (
        "from prometheus_client import Counter\n"
        "c = Counter('dgen_ping_upstream_retries', 'x', ['gen_ai_provider_name', 'llm_route'])\n"
        f"c.labels('openai', {STALE_ROUTE!r}).inc(7)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert list(directory.glob("counter_*.db"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    require_prometheus()
    directory = tmp_path_factory.mktemp("prometheus-deployment")
    leave_stale_metrics(directory / "spool" / "metrics")
    with FakeUpstream() as fake:
        table = routes(fake)
        openai = {"provider": "openai", "base_url": fake.openai_url, "api_key": "sk-test"}
        table["routes"]["broken"] = {**openai, "model": "up-broken"}
        fake.always("up-broken", "500")
        gateway = Gateway.configure(directory, table, WEB_CONCURRENCY="2", METRICS_TOKEN=TOKEN)
        with (
            gateway,
            PrometheusServer(
                directory / "prometheus", f"127.0.0.1:{gateway.port}", TOKEN
            ) as prometheus,
        ):
            yield Deployment(fake, gateway, prometheus)


def chat(model: str, **body) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}], **body}


def usage(fake: FakeUpstream, model: str, kind: str) -> int:
    return sum(seen.usage[kind] for seen in fake.requests_for(model) if seen.usage)


def test_prometheus_counts_what_was_sent(deployment):
    d = deployment
    token = d.gateway.issue_token("alice")
    statuses = Counter()
    for _ in range(12):
        statuses["chat", d.send("POST", "/v1/chat/completions", chat("gemini"), token).status] += 1
    for _ in range(4):
        body = chat("gemini", stream=True)
        statuses["chat", d.send("POST", "/v1/chat/completions", body, token).status] += 1
    for _ in range(3):
        body = {"model": "vectors", "input": ["a", "b"]}
        statuses["embed", d.send("POST", "/v1/embeddings", body, token).status] += 1
    for _ in range(5):
        statuses["chat", d.send("POST", "/v1/chat/completions", chat("broken"), token).status] += 1
    for n in range(6):
        statuses["unknown", d.send("GET", f"/no/such/path/{n}").status] += 1
    assert statuses == {("chat", 200): 16, ("chat", 502): 5, ("embed", 200): 3, ("unknown", 404): 6}

    # Every answer was recorded before it left: the next scrape has all of them.
    d.prometheus.wait_for_scrape()
    chats = f'{HTTP_COUNT}{{http_route="/v1/chat/completions"}}'
    assert d.total(chats) == 21
    by_status = {
        r["metric"]["http_response_status_code"]: float(r["value"][1])
        for r in d.prometheus.query(f"sum by (http_response_status_code) ({chats})")
    }
    assert by_status == {"200": 16, "502": 5}
    assert d.total(f'{HTTP_COUNT}{{http_route="/v1/embeddings"}}') == 3
    assert d.total(f'{HTTP_COUNT}{{http_route="other", http_response_status_code="404"}}') == 6
    assert d.total(f'{HTTP_COUNT}{{http_route="/generate-token"}}') == 1
    assert d.total(f'{HTTP_COUNT}{{http_route="/metrics"}}') is None  # scrapes are not counted

    tokens = 'gen_ai_client_token_usage_sum{gen_ai_operation_name="%s", gen_ai_token_type="%s"}'
    assert d.total(tokens % ("chat", "input")) == usage(d.fake, "up-main", "prompt_tokens")
    assert d.total(tokens % ("chat", "output")) == usage(d.fake, "up-main", "completion_tokens")
    assert d.total(tokens % ("embeddings", "input")) == usage(d.fake, "up-vectors", "prompt_tokens")
    assert d.total("gen_ai_client_operation_time_to_first_chunk_seconds_count") == 4
    failed = 'gen_ai_client_operation_duration_seconds_count{error_type="upstream_unavailable"}'
    assert d.total(failed) == 5
    broken = 'dgen_ping_upstream_errors_total{llm_route="broken", gen_ai_provider_name="openai"}'
    assert d.total(broken) == 5
    # Both workers served, and each scrape (answered by one of them) counted both.
    served = {path.stem.split("_")[-1] for path in d.metrics_dir.glob("histogram_*.db")}
    assert served == {str(pid) for pid in d.workers()}, served
    # One telemetry shipper process beside the workers reports the telemetry pipeline.
    assert d.prometheus.wait_for("sum(dgen_ping_telemetry_status)", 1) == 1


def test_the_exposition_is_clean_for_promtool(deployment):
    text = deployment.scrape()
    assert "gen_ai_client_token_usage_bucket" in text  # after the traffic above
    result = promtool_check(text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


def test_a_previous_runs_metrics_are_not_counted(deployment):
    assert deployment.prometheus.query(f'{{llm_route="{STALE_ROUTE}"}}') == []
    assert STALE_ROUTE not in deployment.scrape()


def test_a_killed_workers_counts_stay_and_its_live_gauges_go(deployment):
    d = deployment
    for n in range(10):
        assert d.send("GET", f"/before/the/kill/{n}").status == 404
    everything = f"sum({HTTP_COUNT})"
    before = total(parse(d.scrape()), HTTP_COUNT)  # any worker answers for both
    assert d.prometheus.wait_for(everything, before) == before
    workers = d.workers()
    served = [pid for pid in workers if (d.metrics_dir / f"histogram_{pid}.db").exists()]
    victim = served[0]
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(lambda: d.workers() - workers)
    assert replaced, "no worker replaced the killed one"
    # gunicorn's master ran child_exit: the dead worker's live gauges are gone, its counts not.
    assert not (d.metrics_dir / f"gauge_livesum_{victim}.db").exists()
    d.prometheus.wait_for_scrape()  # nothing from before the kill
    assert d.prometheus.wait_for("sum(dgen_ping_telemetry_status)", 1) == 1
    assert d.prometheus.value(everything) == before
    assert (d.metrics_dir / f"histogram_{victim}.db").exists()
    for n in range(5):
        assert d.send("GET", f"/after/the/kill/{n}").status == 404
    assert d.prometheus.wait_for(everything, before + 5) == before + 5
    # Over the whole run, the total never went down.
    assert d.prometheus.value(f"resets({everything}[10m:1s])") == 0


def shipper_pid(d: Deployment) -> int | None:
    """The telemetry shipper process, as its status file names it."""
    try:
        return json.loads((d.gateway.directory / "spool" / "shipper.status").read_text())["pid"]
    except (OSError, ValueError):
        return None


def test_a_killed_shippers_live_gauges_go_and_its_replacement_reports(deployment):
    d = deployment
    victim = wait_until(lambda: shipper_pid(d))
    assert (d.metrics_dir / f"gauge_livesum_{victim}.db").exists()
    stored = "sum(dgen_ping_telemetry_events_stored_total)"
    d.prometheus.wait_for_scrape()
    before = d.prometheus.value(stored) or 0
    os.kill(victim, signal.SIGKILL)
    replacement = wait_until(lambda: (shipper_pid(d) or victim) != victim and shipper_pid(d))
    assert replacement, "gunicorn's master did not start another shipper"
    # The master marked the dead shipper dead: its live gauges went, its counts stayed.
    assert not (d.metrics_dir / f"gauge_livesum_{victim}.db").exists()
    for n in range(5):
        assert d.send("GET", f"/after/the/shipper/{n}").status == 404
    d.prometheus.wait_for_scrape()
    assert d.prometheus.wait_for("sum(dgen_ping_telemetry_status)", 1) == 1  # not 2
    assert wait_until(lambda: (d.prometheus.value(stored) or 0) >= before + 5)


def test_prometheus_pages_show_the_gateway(deployment, browser):  # noqa: F811 (the fixture)
    """Screenshots for docs/metrics.md: the target, requests by route and status, tokens."""
    url = deployment.prometheus.url
    browser.open(f"{url}/classic/targets")
    assert "(1/1 up)" in browser.text("#job-dgen-ping")
    browser.screenshot("targets")
    tables = {
        "requests": f"sum by (http_route, http_response_status_code) ({HTTP_COUNT})",
        "tokens": "sum by (gen_ai_operation_name, gen_ai_token_type) "
        "(gen_ai_client_token_usage_sum)",
    }
    for name, expr in tables.items():
        browser.open(f"{url}/classic/graph?g0.expr={quote(expr)}&g0.tab=1")
        browser.wait_for(".tab-pane.active table tr", count=3)
        assert "chat" in browser.text(".tab-pane.active table")
        browser.screenshot(name)
