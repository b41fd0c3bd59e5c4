"""Code that tests run in separate processes (multiprocessing 'spawn': nothing inherited)."""

import resource
import signal
from pathlib import Path

from telemetry.backends.csv import CSVBackend
from telemetry.schema import build_event


def append_batches(directory: str, max_bytes: int, worker: int, batches: int, size: int) -> None:
    """Write batches of events tagged with this worker's number to a shared CSV directory."""
    store = CSVBackend(Path(directory), max_bytes=max_bytes)
    for batch in range(batches):
        events = [
            build_event(soeid=f"w{worker}", request_id=f"{worker}-{batch}-{i}", endpoint="/x" * 20)
            for i in range(size)
        ]
        store.write_batch(events)


def race_writers(directory: str, max_bytes: int, workers: int, batches: int, size: int) -> None:
    """append_batches in `workers` processes at once (spawned: nothing inherited)."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    args = [(directory, max_bytes, worker, batches, size) for worker in range(workers)]
    jobs = [spawn.Process(target=append_batches, args=a) for a in args]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(60)
        assert job.exitcode == 0


def write_past_a_size_limit(directory: str, headroom: int) -> str:
    """Write a batch that cannot fit under RLIMIT_FSIZE, as on a full disk; report the error."""
    store = CSVBackend(Path(directory))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    size = store.path.stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + headroom, resource.RLIM_INFINITY))
    try:
        store.write_batch([build_event(endpoint="/y" * 50) for _ in range(20)])
    except OSError as exc:
        return type(exc).__name__
    return "no error"


def die_between_append_and_rollups(directory: str, events: int) -> None:
    """Store a batch, then append a second one and die before counting it in the rollups
    (as a worker SIGKILLed at that moment would)."""
    import os

    from telemetry.backends import csv_rollups

    store = CSVBackend(Path(directory))
    store.write_batch([build_event(soeid="before", latency_ms=5.0) for _ in range(events)])
    csv_rollups.FileRollups.appended = lambda *args, **kwargs: os._exit(9)
    store.write_batch([build_event(soeid="dying", latency_ms=7.0) for _ in range(events)])


def append_slowly(directory: str, writing) -> None:
    """Append a batch in two writes a second apart, holding the file's lock, as a writer
    slowed down mid-batch (a busy disk, a descheduled process) would."""
    import time

    from telemetry.backends import csv as csv_backend

    write_all = csv_backend._write_all

    def slowly(fd: int, data: bytes) -> None:
        write_all(fd, data[: len(data) // 2])
        writing.set()
        time.sleep(1.0)
        write_all(fd, data[len(data) // 2 :])

    csv_backend._write_all = slowly
    CSVBackend(Path(directory)).write_batch([build_event(latency_ms=2.0) for _ in range(10)])
