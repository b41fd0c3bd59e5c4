"""Process faults under LLM traffic through the fake upstream: a worker SIGKILLed under load,
the master SIGTERMed under load with streams still in flight, then a restart in the same
directories. Every response a client received in full has exactly one stored event
(matched by X-Request-ID), and no event is stored twice.

tests/telemetry/test_server_processes.py checks the same guarantee with telemetry shipped
only at exit; here it ships every 50 ms in batches of 20, so the kills land between a
batch being stored and its checkpoint being saved too.
"""

import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.conftest import scale
from tests.reliability.gateway import Gateway, wait_until
from tests.telemetry import servers

pytestmark = pytest.mark.slow

PHASE = scale(100, 1000)  # responses to receive in each phase of the run
# Plain and streamed completions, an upstream failure, a slow-drip stream (0.4 s).
MIX = [("ok", False), ("ok", True), ("e500", False), ("ok", False), ("ok", True), ("drip", True)]


def send(gateway: Gateway, n: int) -> str | None:
    """The X-Request-ID of a response received in full (a cut stream is not)."""
    model, stream = MIX[n % len(MIX)]
    reply = gateway.llm(model, stream=stream)
    return reply.request_id if reply and reply.status in (200, 502) else None


def replaced_worker(gateway: Gateway, victim: int) -> bool:
    workers = gateway.workers()
    return victim not in workers and len(workers) == int(gateway.env["WEB_CONCURRENCY"])


def test_worker_kill_master_stop_and_restart_under_load_lose_and_duplicate_nothing(
    gateways, report
):
    # A short graceful timeout: workers still streaming when it ends are killed by gunicorn,
    # leaving their unshipped events for the restarted server to recover.
    gateway = gateways(GUNICORN_GRACEFUL_TIMEOUT="1", LOG_LEVEL="INFO").start()
    received: list[str] = []
    with servers.Load(lambda n: send(gateway, n), threads=8) as load:
        load.wait_for(PHASE)
        victim = min(gateway.workers())
        os.kill(victim, signal.SIGKILL)
        load.wait_for(len(load.received) + PHASE)
        assert wait_until(lambda: replaced_worker(gateway, victim))
        load.wait_for(len(load.received) + PHASE)
        with ThreadPoolExecutor(4) as pool:
            slow = [pool.submit(gateway.llm, "slow", stream=True) for _ in range(4)]
            load.wait_for(len(load.received) + 20)  # the slow streams are under way
            assert gateway.stop() == 0  # SIGTERM with the load still running
        received += load.received
    in_flight = [future.result() for future in slow]
    received += [reply.request_id for reply in in_flight if reply and reply.status == 200]

    gateway.start()  # same spool and store: ships what the killed processes left
    with servers.Load(lambda n: send(gateway, n), threads=8) as load:
        load.wait_for(PHASE)
    received += load.received
    assert gateway.stop() == 0

    events = gateway.csv_events()
    counts = Counter(event["request_id"] for event in events)
    figures = {
        "received": len(received),
        "stored": len(events),
        "lost": sum(counts[request_id] == 0 for request_id in received),
        "duplicated": sum(count > 1 for count in counts.values()),
        "streams_cut_by_the_stop": sum(reply is None for reply in in_flight),
        "recovered_by_another_process": _recovered(gateway.log()),
    }
    report.record("process faults", **figures)
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures
    assert len({event["event_id"] for event in events}) == len(events)
    # Dead processes' segments are deleted only by whoever ships them.
    assert gateway.spool_files() == []


def _recovered(log: str) -> int:
    """Events shipped from dead processes' spools, as the log says ("Recovered N ...")."""
    return sum(
        int(line.split("Recovered ", 1)[1].split()[0])
        for line in log.splitlines()
        if "Recovered " in line
    )
