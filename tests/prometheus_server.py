"""A real Prometheus server (Debian's `prometheus` package) scraping the gateway, for the
metrics tests: its own configuration, storage and free port in a temporary directory, a
short scrape interval, the gateway's bearer token in a file; stopped by its PID.

Missing binaries skip the tests, saying how to install them, except in CI (`.ci/run`
installs them), where they fail: the metrics tests must never silently vanish.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path

import requests

from tests.telemetry import servers
from tests.tools import missing_tool

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
INSTALL = "apt-get install -y --no-install-recommends prometheus"
# A bound, not an expectation: Prometheus scrapes every SCRAPE_INTERVAL.
WAIT = 60.0
SCRAPE_INTERVAL = "1s"


def require_prometheus() -> None:
    if not (PROMETHEUS and PROMTOOL):
        missing_tool(f"prometheus and promtool are needed for the metrics tests: {INSTALL}")


class PrometheusServer:
    """One Prometheus scraping `target` (host:port) at /metrics with a bearer token."""

    def __init__(self, directory: Path, target: str, token: str):
        self.directory = directory
        self.port = servers.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)
        token_file = directory / "token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        self.config = directory / "prometheus.yml"
        self.config.write_text(json.dumps(scrape_config(target, token_file)))  # JSON is YAML
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only, whatever proxy the environment names

    def start(self) -> "PrometheusServer":
        require_prometheus()
        command = [
            PROMETHEUS,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        log = open(self.directory / "prometheus.log", "ab")  # noqa: SIM115 (the process owns it)
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        self.session.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log()}")
            try:
                if self.session.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus did not start: {self.log()}")

    def log(self) -> str:
        return (self.directory / "prometheus.log").read_text(errors="replace")[-3000:]

    # --- its HTTP API -------------------------------------------------------------------------

    def query(self, expr: str) -> list[dict]:
        """The result of an instant query (/api/v1/query): [{"metric", "value"}, ...]."""
        response = self.session.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5)
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The one value an instant query gives, or None when it gives none."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: float) -> float | None:
        """The query's value once it equals `expected`, else its last value at the bound."""
        deadline = time.monotonic() + WAIT
        while True:
            value = self.value(expr)
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    def wait_for_scrape(self) -> None:
        """Until Prometheus has scraped the target again, so that queries see what is now."""
        now = time.time()
        deadline = time.monotonic() + WAIT
        while (self.value("max(timestamp(up))") or 0) <= now:
            assert time.monotonic() < deadline, f"no scrape since {now}: {self.targets()}"
            time.sleep(0.2)

    def targets(self) -> list[dict]:
        response = self.session.get(self.url + "/api/v1/targets", timeout=5)
        return response.json()["data"]["activeTargets"]


def scrape_config(target: str, token_file: Path) -> dict:
    """What an operator writes to scrape the gateway (docs/metrics.md), with test intervals."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "dgen-ping",
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }


def promtool_check(text: str) -> subprocess.CompletedProcess:
    """`promtool check metrics` on an exposition, as CI linters run it."""
    require_prometheus()
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
