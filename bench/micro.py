"""Micro-benchmarks of telemetry, in-process, with the gateway's production settings.

Run by bench/run.py, one part per child process, each with the gateway's environment and
a CSV directory of its own:  python -m bench.micro export --events 1000000 --out export.json

- handoff: what the request thread pays to hand one event to the writer (µs per event);
- writer: events per second from hand-off to rows in the CSV file;
- export: `manage.py export_telemetry` over N stored events (events/s, peak RSS).

A part whose code does not exist yet is reported as skipped, saying what it looked for.
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.gateway import ROOT, count_lines, telemetry_rows

HANDOFF = ("telemetry.writer", "emit")  # emit(event: dict) -> None, on the request thread
BUILD_EVENT = ("telemetry.schema", "build_event")
BATCH_WRITE = "write_batch"  # TelemetryBackend.write_batch(events: list[dict])
EXPORT_COMMAND = "export_telemetry"
EXPORT_ARGS = ("--format", "csv")  # to stdout
WRITER_TIMEOUT = 120.0


def sample_event(i: int) -> dict:
    """A realistic LLM event with every field of the shared contract, built the way the
    middleware builds it (telemetry.schema.build_event) once that exists."""
    fields = {
        "event_id": uuid.uuid4().hex,
        "schema_version": 1,
        "timestamp": "2025-01-01T12:00:00.000Z",
        "event_type": "llm_request",
        "request_id": str(uuid.uuid4()),
        "client_ip": "127.0.0.1",
        "client_id": f"user{i % 100}",
        "soeid": f"user{i % 100}",
        "project_name": f"project{i % 7}",
        "target_service": "llm",
        "endpoint": "/v1/chat/completions",
        "method": "POST",
        "status_code": 200,
        "latency_ms": 12.5,
        "request_size": 180,
        "response_size": 300,
        "user_agent": "bench/1.0",
        "model": "bench-plain",
        "provider": "openai",
        "upstream_model": "fake-model",
        "prompt_tokens": 12,
        "completion_tokens": 9,
        "total_tokens": 21,
        "tokens_estimated": False,
        "temperature": 0.3,
        "max_tokens": 64,
        "upstream_latency_ms": 10.1,
        "error": "",
        "extra": {"bench": True},
    }
    build = _find(*BUILD_EVENT)
    return fields if isinstance(build, str) else build(**fields)


def _find(module: str, name: str):
    """The callable module.name, or a sentence saying it is not there yet."""
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        found = None
    return found if callable(found) else f"{module}.{name} does not exist yet"


def writer_throughput(events: int) -> dict:
    """Hand `events` events over, then wait until the CSV holds them all."""
    emit = _find(*HANDOFF)
    if isinstance(emit, str):
        return {"skipped": emit}
    prepared = [sample_event(i) for i in range(events)]
    before = telemetry_rows(os.environ)
    started = time.perf_counter()
    for event in prepared:
        emit(event)
    deadline = started + WRITER_TIMEOUT
    while (stored := telemetry_rows(os.environ) - before) < events:
        if time.perf_counter() > deadline:
            return {"error": f"{stored} of {events} events in the CSV after {WRITER_TIMEOUT} s"}
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    return {"events": events, "seconds": round(elapsed, 3), "events_per_s": round(events / elapsed)}


def handoff(events: int, batch: int = 100) -> dict:
    """µs per emit() call, timed in batches so the clock's own cost stays out."""
    emit = _find(*HANDOFF)
    if isinstance(emit, str):
        return {"skipped": emit}
    prepared = [sample_event(i) for i in range(events)]
    for event in prepared[:batch]:  # warm-up: the writer starts, first allocations
        emit(dict(event))
    per_event = []
    for start in range(0, events, batch):
        chunk = prepared[start : start + batch]
        began = time.perf_counter_ns()
        for event in chunk:
            emit(event)
        per_event.append((time.perf_counter_ns() - began) / len(chunk) / 1000)
    per_event.sort()
    return {
        "events": events,
        "us_per_event_mean": round(statistics.fmean(per_event), 2),
        "us_per_event_p50": round(per_event[len(per_event) // 2], 2),
        "us_per_event_p99": round(per_event[int(len(per_event) * 0.99)], 2),
    }


def _backend():
    from django.core.exceptions import ImproperlyConfigured

    from telemetry.backends import stores

    try:
        return stores[stores.default_alias()]
    except ImproperlyConfigured as exc:
        return f"the configured store cannot be built ({exc})"


def store(events: int, batch: int = 10_000) -> dict:
    """Put `events` events into the configured backend with write_batch()."""
    backend = _backend()
    write = getattr(backend, BATCH_WRITE, None) if not isinstance(backend, str) else None
    if write is None:
        return {"skipped": backend if isinstance(backend, str) else f"no {BATCH_WRITE}()"}
    started = time.perf_counter()
    for first in range(0, events, batch):
        write([sample_event(i) for i in range(first, min(first + batch, events))])
    elapsed = time.perf_counter() - started
    return {"events": events, "seconds": round(elapsed, 3), "events_per_s": round(events / elapsed)}


def export(events: int, out_dir: Path) -> dict:
    """Time `manage.py export_telemetry` in a child; peak RSS from wait4() on that child."""
    from django.core.management import get_commands

    if EXPORT_COMMAND not in get_commands():
        return {"skipped": f"manage.py {EXPORT_COMMAND} does not exist yet"}
    stored = store(events)
    if "events" not in stored:
        return stored
    output, errors = out_dir / "export.csv", out_dir / "export.log"
    command = [sys.executable, "manage.py", EXPORT_COMMAND, *EXPORT_ARGS]
    with output.open("wb") as sink, errors.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode:
        return {"error": f"exit {proc.returncode}: {errors.read_text(errors='replace')[-1000:]}"}
    lines = count_lines(output)
    return {
        "store": stored,
        "events": events,
        "exported_lines": lines,
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kB
    }


PARTS = ("writer", "handoff", "export")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=PARTS, help="one part per process: a clean CSV each")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    args = parser.parse_args()

    import django

    django.setup()
    if args.part == "writer":
        result = writer_throughput(args.events)
    elif args.part == "handoff":
        result = handoff(args.events)
    else:
        result = export(args.events, args.out.parent)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
