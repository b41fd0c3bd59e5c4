"""The shipper process (telemetry.shipper_process) and its supervision by gunicorn's master.

In-process: a hand-off spool held (locked) by a live writer is shipped without its lock, from
its checkpoint, exactly once even by a second shipper after the first died mid-way; writers
that ship their own spool leave hand-off segments alone; what /health reads of the shipper.
Under gunicorn: the shipper SIGKILLed is restarted by the master and nothing is lost or
stored twice; the master's SIGTERM drains the spool, after the workers, and leaves no process.
"""

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from telemetry.backends.chain import ChainStore
from telemetry.backends.csv import CSVBackend
from telemetry.doubts import DoubtLedger
from telemetry.quarantine import Quarantine
from telemetry.recovery import recover_orphans
from telemetry.shipper import Shipper
from telemetry.shipper_process import STATUS_FILE, SpoolShipper, read_status
from telemetry.supervisor import ShipperSupervisor
from telemetry.writer import TelemetryWriter
from tests.reliability.gateway import wait_until
from tests.telemetry import servers
from tests.telemetry.conftest import make_event
from tests.telemetry.test_server_processes import counted_request, stored


class CountingCSV(CSVBackend):
    """A CSV store that counts the batches written to it and the questions asked of it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = self.questions = 0

    def write_batch(self, events):
        self.batches += 1
        super().write_batch(events)

    def existing_ids(self, ids, since=None):
        self.questions += 1
        return super().existing_ids(ids, since)


def csv_chain(directory: Path) -> ChainStore:
    return ChainStore([("csv", CountingCSV(directory))])


def hand_off_writer(spool: Path, csv: Path) -> TelemetryWriter:
    """A gunicorn worker's writer: appends only (its thread is not started here)."""
    return TelemetryWriter(store=csv_chain(csv), spool_dir=spool, handoff=True)


def spool_shipper(spool: Path, csv: Path) -> SpoolShipper:
    return SpoolShipper(store=csv_chain(csv), spool_dir=spool, batch_size=10)


def ids(directory: Path) -> Counter:
    return Counter(event["event_id"] for event in CSVBackend(directory).iter_events())


def test_a_live_workers_segment_is_shipped_without_its_lock_and_only_once(tmp_path):
    spool, csv = tmp_path / "spool", tmp_path / "csv"
    writer = hand_off_writer(spool, csv)
    events = [make_event() for _ in range(25)]
    for event in events[:15]:
        writer.emit(event)
    shipper = spool_shipper(spool, csv)
    assert shipper.round() and shipper.shipped == 15
    for event in events[15:]:
        writer.emit(event)
    assert shipper.round() and shipper.shipped == 25
    assert shipper.round() and shipper.shipped == 25  # nothing twice
    assert ids(csv) == Counter(event["event_id"] for event in events)
    assert len(list(spool.glob("*.handoff.spool"))) == 1, "its owner still appends to it"
    writer.shutdown()  # the worker exits: its segment is handed over
    shipper.drain()
    assert list(spool.glob("*.spool")) == [] and ids(csv).most_common(1)[0][1] == 1


def test_a_shipper_that_died_before_its_checkpoint_is_followed_without_duplicates(tmp_path):
    spool, csv = tmp_path / "spool", tmp_path / "csv"
    writer = hand_off_writer(spool, csv)
    for _ in range(10):
        writer.emit(make_event())
    first = spool_shipper(spool, csv)
    first.round()
    [segment] = first.watched.values()
    (segment.checkpoint_path).write_bytes(b"0")  # as if it died before saving its checkpoint
    for _ in range(5):
        writer.emit(make_event())
    second = spool_shipper(spool, csv)
    second.round()
    assert second.store.first.questions >= 1, "the next shipper asked what was stored"
    counts = ids(csv)
    assert len(counts) == 15 and max(counts.values()) == 1
    writer.shutdown()


def test_writers_that_ship_their_own_spool_leave_hand_off_segments_alone(tmp_path):
    spool, csv = tmp_path / "spool", tmp_path / "csv"
    writer = hand_off_writer(spool, csv)
    for _ in range(3):
        writer.emit(make_event())
    writer.shutdown()  # dead now: its segment is an orphan
    store = csv_chain(csv)
    shipper = Shipper(store=store, quarantine=Quarantine(tmp_path / "q"), batch_size=10)
    assert recover_orphans(spool, (), shipper, DoubtLedger(spool)) == 0
    assert len(list(spool.glob("*.handoff.spool"))) == 1
    assert recover_orphans(spool, (), shipper, DoubtLedger(spool), handoff=True) == 3


def test_health_reads_the_shippers_status_and_sees_when_it_goes_quiet(tmp_path):
    spool = tmp_path / "spool"
    writer = hand_off_writer(spool, tmp_path / "csv")
    assert writer.status()["status"] == "starting"  # no shipper has reported yet
    shipper = spool_shipper(spool, tmp_path / "csv")
    writer.emit(make_event())
    shipper.round()
    status = writer.status()
    assert (status["status"], status["stored"], status["spooled"]) == ("connected", 1, 0)
    path = spool / STATUS_FILE
    reported = json.loads(path.read_text())
    path.write_text(json.dumps({**reported, "written": time.time() - writer.stale_after - 1}))
    assert writer.status()["status"] == "unavailable"  # its last report is too old
    assert "has not reported" in read_status(spool, writer.stale_after)["last_error"]
    writer.shutdown()


# --- under gunicorn ---------------------------------------------------------------------------


SHIPPING = {  # every 50 ms in small batches
    "TELEMETRY_FLUSH_INTERVAL": "0.05",
    "TELEMETRY_BATCH_SIZE": "20",
    "TELEMETRY_RECOVERY_INTERVAL": "0.5",
}


@pytest.fixture
def gateway(tmp_path):
    """start(**env): gunicorn as deployed, in tmp_path; (port, master)."""
    masters = []

    def start(**shipping: str):
        port = servers.free_port()
        env = servers.server_env(tmp_path, port, WEB_CONCURRENCY="2", GUNICORN_THREADS="4")
        env.update(shipping)
        migrate = [servers.sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
        servers.subprocess.run(migrate, cwd=servers.ROOT, env=env, check=True, capture_output=True)
        masters.append(servers.start(servers.GUNICORN, tmp_path, env))
        servers.wait_until_serving(port, masters[-1])
        servers.wait_for_workers(masters[-1], 2)
        return port, masters[-1]

    yield start
    for master in masters:
        if master.poll() is None:
            master.kill()
            master.wait()
    pid = shipper_pid(tmp_path)
    if pid and alive(pid):
        os.kill(pid, signal.SIGKILL)


def shipper_pid(tmp_path) -> int | None:
    try:
        return json.loads((tmp_path / "spool" / STATUS_FILE).read_text())["pid"]
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


def exactly_once(tmp_path, received: list[str]) -> None:
    events = stored(tmp_path)
    per_request = Counter(event["request_id"] for event in events)
    assert received and all(per_request[rid] == 1 for rid in received)
    assert len({event["event_id"] for event in events}) == len(events)


@pytest.mark.slow
def test_a_killed_shipper_is_restarted_by_the_master_and_nothing_is_lost(gateway, tmp_path):
    port, master = gateway(**SHIPPING)
    victim = wait_until(lambda: shipper_pid(tmp_path))
    with servers.Load(lambda n: counted_request(port, n)) as load:
        load.wait_for(100)
        os.kill(victim, signal.SIGKILL)
        load.wait_for(len(load.received) + 100)
        replacement = wait_until(lambda: (shipper_pid(tmp_path) or victim) != victim)
        load.wait_for(len(load.received) + 50)
    assert replacement, "the master did not start another shipper"
    # Shipped while serving, by the new shipper: what was spooled before and after the kill.
    assert wait_until(lambda: len(stored(tmp_path)) >= len(load.received))
    assert servers.stop(master) == 0
    exactly_once(tmp_path, load.received)
    assert (
        f"Telemetry shipper (pid {victim}) exited".encode()
        in (tmp_path / "server.log").read_bytes()
    )
    assert list((tmp_path / "spool").glob("*.spool")) == []


@pytest.mark.slow
def test_the_masters_sigterm_drains_the_spool_after_the_workers(gateway, tmp_path):
    port, master = gateway()  # servers.server_env's: nothing is shipped until the drain
    shipper = wait_until(lambda: shipper_pid(tmp_path))
    workers = servers.children(master.pid)
    assert shipper not in workers, "the shipper is not counted as a worker"
    received = [counted_request(port, n) for n in range(40)]
    assert stored(tmp_path) == []
    assert servers.stop(master) == 0
    exactly_once(tmp_path, received)
    assert list((tmp_path / "spool").glob("*.spool")) == []
    assert not alive(shipper) and not any(alive(pid) for pid in workers)


@pytest.mark.slow
def test_a_stop_while_the_shipper_is_starting_still_ships_what_is_spooled(tmp_path, monkeypatch):
    """A master stopped right after its start signals a shipper that is still loading Django
    (about a second): the stop must be a drain, not a death that leaves the spool for the
    next start. The real `ship_telemetry`, started by the supervisor as the master does."""
    spool, csv = tmp_path / "spool", tmp_path / "csv"
    for name, value in servers.server_env(tmp_path, servers.free_port()).items():
        monkeypatch.setenv(name, value)
    (tmp_path / "metrics").mkdir()  # as gunicorn.conf.py prepares it for the master
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    writer = hand_off_writer(spool, csv)
    events = [make_event() for _ in range(20)]
    for event in events:
        writer.emit(event)
    writer.shutdown()  # the worker has exited: its segment waits for the shipper
    supervisor = ShipperSupervisor.for_this_project(os.getpid(), spool)
    supervisor.start()
    assert wait_until(lambda: supervisor.process is not None)
    assert supervisor.stop(timeout=60) is True
    assert supervisor.process.returncode == 0
    assert ids(csv) == Counter(event["event_id"] for event in events)
