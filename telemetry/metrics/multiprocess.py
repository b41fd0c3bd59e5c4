"""Prometheus' multiprocess mode as gunicorn runs the gateway (gunicorn.conf.py's hooks).

Each worker keeps its metrics in files of its own in one directory, which every worker
reads to answer a scrape (prometheus_client's multiprocess mode, chosen by the variable
PROMETHEUS_MULTIPROC_DIR when prometheus_client is first imported). The master, before any
worker exists, empties the directory and names it in the environment the workers inherit;
when a worker exits, however it ended, its gauges of live processes go (its counters and
histograms stay: they count what it did, so totals never go backwards). A process of its
own beside the workers (a telemetry shipper) inherits the variable too and writes there.

Imports nothing of prometheus_client until a worker has exited, so that the master's
environment is set before anything could choose the mode.
"""

import os
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare(directory: Path) -> None:
    """In the master at start: an empty directory for this run, named in the environment.
    Files a previous run left would add its counts to this run's."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink()
    os.environ[VARIABLE] = str(directory)


def process_exited(pid: int) -> None:
    """In the master, for a worker that exited (or was killed): drop its live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, os.environ[VARIABLE])
