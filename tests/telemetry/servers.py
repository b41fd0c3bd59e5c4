"""Running the service as real processes, as deployed, for crash and shutdown tests."""

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.settings import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]


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
        # Nothing is shipped while serving: every event must reach the store through a
        # flush at exit or the recovery of a dead worker's spool.
        TELEMETRY_FLUSH_INTERVAL="60",
        TELEMETRY_BATCH_SIZE="1000000",
    )
    env.update(overrides)
    return env


def start(args: list[str], tmp_path: Path, env: dict) -> subprocess.Popen:
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 (the process owns it)
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def request(port: int, method: str, path: str, body: str = "", **headers) -> str | None:
    """The X-Request-ID of a complete response, or None if none was received."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.getheader("X-Request-ID")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def wait_until_serving(port: int, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if request(port, "GET", "/health"):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start")


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
