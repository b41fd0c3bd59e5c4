"""Running the service as real processes, as deployed, for crash, shutdown and fault tests."""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.settings import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = ["-m", "gunicorn", "-c", "gunicorn.conf.py", "dgen_ping_site.wsgi"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(tmp_path: Path, port: int, **overrides: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(TEST_ENV)
    env.update(
        DJANGO_SETTINGS_MODULE="dgen_ping_site.settings",
        CSV_FALLBACK_DIR=str(tmp_path / "csv"),
        TELEMETRY_SPOOL_DIR=str(tmp_path / "spool"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PORT=str(port),
        LOG_LEVEL="INFO",
        # No upstream: the local development provider answers, knowingly (production
        # settings refuse to start with it otherwise).
        ALLOW_LOCAL_PROVIDER="true",
        # Nothing is shipped while serving: every event must reach the store through a
        # flush at exit or the recovery of a dead worker's spool.
        TELEMETRY_FLUSH_INTERVAL="60",
        TELEMETRY_BATCH_SIZE="1000000",
    )
    env.update(overrides)
    return env


def start(args: list[str], tmp_path: Path, env: dict) -> subprocess.Popen:
    # Appended to, so a restarted server's log follows the first one's.
    log = open(tmp_path / "server.log", "ab")  # noqa: SIM115 (the process owns it)
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


@dataclass
class Reply:
    """A complete response: status, headers (lower-case names) and the whole body."""

    status: int
    headers: dict
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")


def fetch(
    port: int, method: str, path: str, body: str = "", timeout: float = 10, **headers
) -> Reply | None:
    """One request on a fresh connection; None unless a complete response was received."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        content = response.read()
        names = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, names, content)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def request(port: int, method: str, path: str, body: str = "", **headers) -> str | None:
    """The X-Request-ID of a complete response, or None if none was received."""
    reply = fetch(port, method, path, body, **headers)
    return reply.request_id if reply else None


def wait_until_serving(port: int, process: subprocess.Popen) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if request(port, "GET", "/health"):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def wait_for_workers(master: subprocess.Popen, count: int) -> set[int]:
    """The workers of a gunicorn master, once all `count` are forked (the first may serve
    before the master has forked the others)."""
    for _ in range(600):
        workers = children(master.pid)
        if len(workers) >= count:
            return workers
        time.sleep(0.05)
    raise RuntimeError(f"gunicorn did not start {count} workers")


def wait_for_files(directory: Path, pattern: str) -> list[Path]:
    """The files matching `pattern` in `directory`, once there is one."""
    for _ in range(600):
        found = list(directory.glob(pattern))
        if found:
            return found
        time.sleep(0.01)
    raise RuntimeError(f"no {pattern} in {directory}")


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def stop(process: subprocess.Popen) -> int:
    """SIGTERM, as a process manager does, and wait for a graceful exit."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@contextmanager
def deployed(tmp_path: Path, port: int, env: dict) -> Iterator[subprocess.Popen]:
    """The database migrated, then gunicorn as deployed serving on `port` until the block
    ends (stopped then unless the block stopped it)."""
    migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)
    process = start(GUNICORN, tmp_path, env)
    try:
        wait_until_serving(port, process)
        yield process
    finally:
        stop(process)


class Load:
    """Client threads calling send(n) with n = 0, 1, 2...; keeps the ids it gets back.

    send returns the X-Request-ID of a complete response, or None when none was received.
    """

    def __init__(self, send: Callable[[int], str | None], threads: int = 4):
        self.send, self.received, self.sent = send, [], 0
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self):
        while not self._stop.is_set():
            with self._lock:
                n, self.sent = self.sent, self.sent + 1
            request_id = self.send(n)
            if request_id:
                with self._lock:
                    self.received.append(request_id)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def wait_for(self, count: int) -> None:
        for _ in range(3000):  # bounded
            if len(self.received) >= count:
                return
            time.sleep(0.01)
