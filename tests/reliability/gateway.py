"""dgen-ping as deployed (gunicorn, gunicorn.conf.py, several gthread workers, production
settings from tests.settings.TEST_ENV) in its own directories, and what the tests ask of it."""

import http.client
import json
import os
import resource
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from accounts.tokens import issue_token
from telemetry.backends.csv import CSVBackend
from tests.telemetry import servers

LLM_PATH = "/api/llm/completion"
# Telemetry ships every 50 ms in small batches, so faults hit it mid-batch; the configured
# store is tried again 0.3 s after a failure and dead workers' spools are looked for twice a
# second, so recoveries happen within a test.
ENV = {
    "WEB_CONCURRENCY": "2",
    "GUNICORN_THREADS": "8",
    "GUNICORN_GRACEFUL_TIMEOUT": "20",
    "TELEMETRY_FLUSH_INTERVAL": "0.05",
    "TELEMETRY_BATCH_SIZE": "20",
    "TELEMETRY_RETRY_PRIMARY_INTERVAL": "0.3",
    "TELEMETRY_RECOVERY_INTERVAL": "0.5",
    "LLM_MAX_RETRY_WAIT": "0.5",
    "DEFAULT_MODEL": "ok",
    "LOG_LEVEL": "WARNING",
}


def wait_until(check: Callable[[], object], timeout: float = 30, interval: float = 0.05):
    """check()'s first truthy value, polled until the deadline; None if it never came."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Gateway:
    def __init__(self, home: Path, routes_file: Path, database: Path, **env: str):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(database, home / "db.sqlite3")
        self.port = servers.free_port()
        overrides = {**ENV, "LLM_ROUTES_FILE": str(routes_file), **env}
        self.env = servers.server_env(home, self.port, **overrides)
        self.token = issue_token(soeid="reliability", project_id="faults").token
        self.master = None

    # --- processes ------------------------------------------------------------------------

    def start(self) -> "Gateway":
        self.master = servers.start(servers.GUNICORN, self.home, self.env)
        servers.wait_until_serving(self.port, self.master)
        servers.wait_for_workers(self.master, int(self.env.get("WEB_CONCURRENCY", "1")))
        return self

    def stop(self) -> int:
        """SIGTERM to the master and a graceful exit: its return code."""
        return servers.stop(self.master)

    def kill(self) -> None:
        """Leave nothing running (test teardown)."""
        if self.master is not None and self.master.poll() is None:
            workers = self.workers()
            self.master.kill()
            self.master.wait()
            for pid in workers:
                _kill(pid)

    def workers(self) -> set[int]:
        try:
            return servers.children(self.master.pid)
        except FileNotFoundError:
            return set()

    def limit_file_size(self, limit: int | None) -> None:
        """RLIMIT_FSIZE of every server process: no file may grow past `limit` bytes (a full
        disk, as far as these processes can tell), or no limit again with None."""
        soft = resource.RLIM_INFINITY if limit is None else limit
        for pid in {self.master.pid, *self.workers()}:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, resource.RLIM_INFINITY))

    def log(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")

    # --- requests -------------------------------------------------------------------------

    def llm(self, model: str, *, stream: bool = False, timeout: float = 30):
        """POST /api/llm/completion: the complete Reply, or None."""
        body, headers = self._completion(model, stream)
        return servers.fetch(self.port, "POST", LLM_PATH, body, timeout=timeout, **headers)

    def abandon(self, model: str, keep: int = 64) -> servers.Reply | None:
        """Start a stream, read its first `keep` bytes, hang up: the Reply received so far."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", LLM_PATH, *self._completion(model, stream=True))
            response = connection.getresponse()
            names = {name.lower(): value for name, value in response.getheaders()}
            return servers.Reply(response.status, names, response.read(keep))
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()

    def _completion(self, model: str, stream: bool) -> tuple[str, dict]:
        body = json.dumps({"prompt": "Hello there", "model": model, "stream": stream})
        return body, {"X-API-Token": self.token, "Content-Type": "application/json"}

    def health(self, timeout: float = 10) -> dict | None:
        reply = servers.fetch(self.port, "GET", "/health", timeout=timeout)
        return json.loads(reply.body) if reply and reply.status == 200 else None

    def storage_state(self) -> str:
        """The telemetry store's status, as /health gives it (for one worker)."""
        health = self.health()
        return health["database"]["status"] if health else "no answer"

    def storage_states(self, samples: int = 10, interval: float = 0.05) -> list[str]:
        """What /health says of the telemetry store, `samples` times over a while."""
        states = []
        for _ in range(samples):
            states.append(self.storage_state())
            time.sleep(interval)
        return states

    def storage_becomes(self, *states: str, streak: int = 10) -> bool:
        """Whether /health reports one of these storage states `streak` times in a row.

        Each answer comes from whichever worker the kernel picked: ten in a row leave
        little chance that a worker still in another state went unasked.
        """
        seen: list[str] = []

        def settled() -> bool:
            seen.append(self.storage_state())
            return seen[-streak:] == [seen[-1]] * streak and seen[-1] in states

        return bool(wait_until(settled))

    # --- what was stored ------------------------------------------------------------------

    def csv_events(self) -> list[dict]:
        return list(CSVBackend(self.home / "csv").iter_events())

    def spool_files(self) -> list[Path]:
        return sorted((self.home / "spool").glob("*.spool"))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
