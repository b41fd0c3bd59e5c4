"""Fixtures of the fault-injection suite: the fake upstream with its failing routes, a
migrated database to copy, and gateways under gunicorn that are always cleaned up.

RELIABILITY_LONG=1 runs the long variants (ten times the requests or more), and
RELIABILITY_REPORT=<file> writes the figures of the run there as JSON: see
docs/reliability.md.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_upstream import FakeUpstream
from tests.reliability import upstream
from tests.reliability.gateway import Gateway
from tests.telemetry import servers

LONG = os.environ.get("RELIABILITY_LONG", "") not in ("", "0")


def scale(ci: int, long: int) -> int:
    """A count for CI, or for the long variant."""
    return long if LONG else ci


@pytest.fixture(scope="session")
def fake_upstream():
    with FakeUpstream() as fake:
        for model, mode in upstream.MODES.items():
            fake.always(model, mode)
        yield fake


@pytest.fixture(scope="session")
def routes_file(tmp_path_factory, fake_upstream):
    path = tmp_path_factory.mktemp("routes") / "routes.json"
    path.write_text(json.dumps(upstream.routes(fake_upstream, servers.free_port())))
    return path


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """A migrated SQLite database (revoked tokens), copied by every gateway."""
    home = tmp_path_factory.mktemp("database")
    env = servers.server_env(home, 0)
    command = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    done = subprocess.run(command, cwd=servers.ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return home / "db.sqlite3"


@pytest.fixture
def gateways(tmp_path, routes_file, database):
    """gateways(name, **env) makes a Gateway (not started); all are killed at the end."""
    made: list[Gateway] = []

    def make(name: str = "gateway", **env: str) -> Gateway:
        gateway = Gateway(tmp_path / name, routes_file, database, **env)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.kill()


class Report:
    """Figures of a run (requests, faults, events stored, lost, duplicated...)."""

    def __init__(self):
        self.entries: list[dict] = []

    def record(self, test: str, **figures) -> None:
        self.entries.append({"test": test, **figures})


@pytest.fixture(scope="session")
def report():
    """report.record(test, **figures); written to $RELIABILITY_REPORT at the end, if set."""
    report = Report()
    yield report
    path = os.environ.get("RELIABILITY_REPORT")
    if path:
        Path(path).write_text(json.dumps(report.entries, indent=2, default=dataclasses.asdict))
