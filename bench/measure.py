"""One measurement: a scenario at one concurrency, with the server's CPU and memory."""

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procstat
from bench.load import Request, run_wrk


@dataclass(frozen=True)
class Target:
    """A running server: where it listens and the process at the root of its tree."""

    name: str
    url: str
    proc: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exited(self) -> str:
        """Empty while the server runs; else how it ended (servers do crash under load)."""
        code = self.proc.poll()
        if code is None:
            return ""
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return f"{self.name} is no longer running ({how})"


def settle(pid: int, timeout: float = 15.0) -> None:
    """Wait until the server is idle: under 10% of a core for two readings in a row."""
    deadline = time.monotonic() + timeout
    quiet, last = 0, procstat.cpu_seconds(pid)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = procstat.cpu_seconds(pid)
        quiet = quiet + 1 if now - last <= 0.01 else 0
        last = now


def measure(
    wrk: str, target: Target, request: Request, connections: int, timing: tuple[int, int], tmp: Path
) -> dict:
    """Warm up, then load for a fixed time while reading the server's /proc.

    `timing` is (warm-up seconds, measured seconds). CPU is the whole process tree's, so a
    master, its workers and any writer process or thread all count.
    """
    warmup, seconds = timing
    warmup_requests = 0
    if warmup:
        settle(target.pid)
        warmup_requests = run_wrk(wrk, target.url, request, connections, warmup, tmp)["requests"]
    # wrk leaves requests in flight when it stops; the server finishes them all the same.
    settle(target.pid)
    cpu_before = procstat.cpu_seconds(target.pid)
    split_before = procstat.cpu_by_worker(target.pid)
    others_before = _others_cpu()
    with procstat.RssSampler(target.pid) as sampler:
        summary = run_wrk(wrk, target.url, request, connections, seconds, tmp)
    cpu = procstat.cpu_seconds(target.pid) - cpu_before
    others = _others_cpu() - others_before
    split = procstat.cpu_by_worker(target.pid)
    worker_cpu = [split[pid] - split_before.get(pid, 0.0) for pid in sorted(split)]
    requests = max(summary["requests"], 1)
    return {
        **summary,
        "warmup_requests": warmup_requests,
        "cpu_ms_per_request": round(cpu * 1000 / requests, 4),
        "cpu_cores_busy": round(cpu / summary["duration_s"], 3),
        "others_cores_busy": round(max(others, 0.0) / summary["duration_s"], 2),
        "cpu_share_by_worker": [round(c / max(sum(worker_cpu), 1e-9), 3) for c in worker_cpu],
        "workers": len(split),
        "rss_peak_mb_by_worker": [round(kb / 1024, 1) for kb in sampler.peak_rss_kb.values()],
        "threads_peak_by_worker": list(sampler.peak_threads.values()),
    }


def _others_cpu() -> float:
    """CPU the machine spent on anything but this run (its servers, wrk and upstreams are
    all descendants of this process): how much a shared machine disturbed a point."""
    return procstat.machine_busy_seconds() - procstat.cpu_seconds(os.getpid())
