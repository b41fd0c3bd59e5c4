"""A real MongoDB-protocol server for the tests: SecantusDB, test-only, in its own virtualenv.

`make test` installs it into .mongo-venv (never into the project's requirements or image).
Each server listens on a free port of 127.0.0.1 with its own temporary data directory, and
is stopped by its PID. TEST_MONGO_URI points the shared server at an external mongod
instead; tests that kill and restart a server always start their own.

SecantusDB is beta software: like mongod, it may lose writes it acknowledged without the
journal when killed right after, so servers that tests kill run with --sync-on-commit.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

ROOT = Path(__file__).resolve().parents[1]
SECANTUSD = Path(os.environ.get("SECANTUSD", ROOT / ".mongo-venv" / "bin" / "secantusd-py"))
EXTERNAL_URI = os.environ.get("TEST_MONGO_URI", "")
START_TIMEOUT = 60.0  # seconds; it takes 2-4 s on an idle machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def available() -> bool:
    return SECANTUSD.is_file()


class MongoServer:
    """One SecantusDB process on a data directory; restartable on the same data and port."""

    def __init__(self, data_dir: Path, *, sync_on_commit: bool = False):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.sync_on_commit = sync_on_commit
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> "MongoServer":
        self.launch()
        self.wait_until_serving()
        return self

    def launch(self) -> None:
        """Start the process without waiting for it (start several, then wait for each)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(SECANTUSD),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--storage-path", str(self.data_dir), "--standalone"),
            *("--log-level", "WARNING", "--cache-size", "64M"),
            *(["--sync-on-commit"] if self.sync_on_commit else []),
        ]
        log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")  # noqa: SIM115
        # Its own directory as cwd: it reads ./secantusd.toml when there is one.
        self.process = subprocess.Popen(
            command, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=250)
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"secantusd exited with {self.process.returncode}")
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"secantusd did not answer on {self.uri}") from None
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind, as a crash or the OOM killer would."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def client(self, **options) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, tz_aware=True, **options)


class ExternalServer:
    """TEST_MONGO_URI: a server someone else runs (it is never stopped here)."""

    def __init__(self, uri: str):
        self.uri = uri

    def stop(self) -> None:
        pass

    def client(self, **options) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, tz_aware=True, **options)
