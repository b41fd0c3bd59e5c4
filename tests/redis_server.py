"""A real redis-server on 127.0.0.1 for the tests that need one (shared rate limits, the
budget ledger). Each module that uses `redis_url` gets its own server, which it may stop.

Skips, saying so, when redis-server is not on PATH (Debian: `apt-get install redis-server`);
fails instead in CI, which installs it.
"""

import shutil
import subprocess
import time

import pytest
import redis

from tests.telemetry import servers
from tests.tools import missing_tool


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        missing_tool("redis-server is not on PATH: install it (apt-get install redis-server)")
    port = servers.free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_redis(redis.Redis(port=port), process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_redis(client: redis.Redis, process: subprocess.Popen) -> None:
    for _ in range(100):
        if process.poll() is not None:
            pytest.fail(f"redis-server exited with {process.returncode}")
        try:
            client.ping()
            return
        except redis.exceptions.ConnectionError:  # not up yet
            time.sleep(0.05)
    pytest.fail("redis-server did not answer")
