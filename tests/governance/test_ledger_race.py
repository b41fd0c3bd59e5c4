"""The database ledger's atomicity where it is most tested: 4 processes × 8 threads racing
reservations on one SQLite counter (a file in WAL mode, as gunicorn workers share it), with
no HTTP in between to spread them out. Exactly as many fit as the limit allows."""

import subprocess
import sys
import time

import pytest

from tests.governance.racer import AMOUNT, LIMIT
from tests.telemetry import servers

pytestmark = pytest.mark.slow
PROCESSES, THREADS, CALLS = 4, 8, 25  # 800 attempts for 100 places


def test_racing_processes_never_pass_the_limit(tmp_path):
    env = servers.server_env(tmp_path, 0)
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=servers.ROOT, env=env, check=True, capture_output=True)
    start_at = f"{time.time() + 3:.3f}"  # after every process has loaded Django
    command = [sys.executable, "-m", "tests.governance.racer", "--threads", str(THREADS)]
    command += ["--calls", str(CALLS), "--start-at", start_at]
    racers = [
        subprocess.Popen(command, cwd=servers.ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    granted = [int(racer.communicate(timeout=120)[0]) for racer in racers]
    assert sum(granted) == LIMIT // AMOUNT, granted
    assert all(racer.returncode == 0 for racer in racers)
