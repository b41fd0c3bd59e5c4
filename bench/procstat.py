"""CPU time and memory of a server's process tree, read from /proc (Linux only)."""

import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread of it may have forked some)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    pids, index = [pid], 0
    while index < len(pids):
        pids += children(pids[index])
        index += 1
    return pids


def workers(pid: int) -> list[int]:
    """The processes that serve requests: a master's children, or the server itself. The
    gateway's telemetry shipper (a child of gunicorn's master too) serves none: its CPU is
    in `cpu_seconds` (the whole tree), its memory in `shipper_rss_mb`."""
    return [child for child in children(pid) if not is_shipper(child)] or [pid]


def is_shipper(pid: int) -> bool:
    try:
        return b"ship_telemetry" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def shipper_rss_mb(pid: int) -> float | None:
    """RSS of the gateway's telemetry shipper process, if it has one."""
    shipper = next((child for child in children(pid) if is_shipper(child)), None)
    return None if shipper is None else round(status_fields(shipper).get("rss_kb", 0) / 1024, 1)


def _times(pid: int) -> list[int]:
    """utime, stime, cutime, cstime of one process in clock ticks; empty when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []
    # Fields 14-17 of proc(5), counted after the ")" that closes the command name.
    return [int(value) for value in fields[11:15]]


def cpu_seconds(pid: int) -> float:
    """CPU of the whole tree, including what its reaped children used (cutime+cstime),
    so the sum stays right when a worker exits between two readings."""
    return sum(sum(_times(member)) for member in tree(pid)) / TICKS


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent busy so far, whoever used it (/proc/stat),
    including time the hypervisor gave to other virtual machines (steal)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICKS


def cpu_by_worker(pid: int) -> dict[int, float]:
    """utime+stime per worker: shows how evenly the load spread."""
    return {worker: sum(_times(worker)[:2]) / TICKS for worker in workers(pid)}


def status_fields(pid: int) -> dict[str, int]:
    """VmRSS in kB and thread count of one process; empty when it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = dict(line.split(":", 1) for line in lines if ":" in line)
    return {
        "rss_kb": int(values.get("VmRSS", "0 kB").split()[0]),
        "threads": int(values.get("Threads", "0")),
    }


class RssSampler:
    """Samples every worker's RSS and thread count in the background; keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb: dict[int, int] = {}
        self.peak_threads: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for worker in workers(self.pid):
            fields = status_fields(worker)
            if fields:
                rss = max(self.peak_rss_kb.get(worker, 0), fields["rss_kb"])
                self.peak_rss_kb[worker] = rss
                threads = max(self.peak_threads.get(worker, 0), fields["threads"])
                self.peak_threads[worker] = threads


def rss_mb(pid: int) -> dict[int, float]:
    """Current RSS of every worker, in MB."""
    return {w: round(status_fields(w).get("rss_kb", 0) / 1024, 1) for w in workers(pid)}
