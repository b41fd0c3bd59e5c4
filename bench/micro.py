"""Micro-benchmarks of telemetry, budgets and metrics, in-process, with the gateway's production
settings.

Run by bench/run.py, one part per child process, each with the gateway's environment and
a CSV directory and database of its own:
    python -m bench.micro export --events 1000000 --out export.json

- handoff: what the request thread pays to hand one event to the writer (µs per event);
- writer: events per second from hand-off to rows in the CSV file;
- export: `manage.py export_telemetry` over N stored events, as CSV, JSON and NDJSON
  (events/s, peak RSS; the top-level figures are the slowest format's);
- budgets: what budgets add to an LLM call (µs per call): finding the budgets that bind it,
  reserving its worst case and settling it, with no budget, on the database ledger (SQLite,
  WAL) and on Redis (a redis-server started for the part; skipped without one);
- metrics: what the Prometheus metrics add to a request (µs): the HTTP observation every
  request makes and the observations of an LLM call, as deployed under gunicorn
  (prometheus_client's multiprocess mode: values in memory-mapped files).

A part whose code does not exist yet is reported as skipped, saying what it looked for.
"""

import argparse
import contextlib
import importlib
import json
import os
import shutil
import socket
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
EXPORT_FORMATS = ("csv", "json", "ndjson")  # each to stdout
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
    """Time `manage.py export_telemetry` in a child, in every format; peak RSS from wait4()
    on that child. The top-level figures are the slowest format's."""
    from django.core.management import get_commands

    if EXPORT_COMMAND not in get_commands():
        return {"skipped": f"manage.py {EXPORT_COMMAND} does not exist yet"}
    stored = store(events)
    if "events" not in stored:
        return stored
    by_format = {}
    for fmt in EXPORT_FORMATS:
        by_format[fmt] = _export_as(fmt, events, out_dir)
        if "error" in by_format[fmt]:
            return by_format[fmt]
    slowest = min(by_format.values(), key=lambda result: result["events_per_s"])
    return {"store": stored, "events": events, **slowest, "by_format": by_format}


def _export_as(fmt: str, events: int, out_dir: Path) -> dict:
    output, errors = out_dir / f"export.{fmt}", out_dir / f"export.{fmt}.log"
    command = [sys.executable, "manage.py", EXPORT_COMMAND, "--format", fmt]
    with output.open("wb") as sink, errors.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode:
        return {"error": f"exit {proc.returncode}: {errors.read_text(errors='replace')[-1000:]}"}
    result = {
        "format": fmt,
        "exported_lines": count_lines(output),
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kB
    }
    output.unlink()  # a million events take a few hundred MB in each format
    return result


def budgets(calls: int, batch: int = 100) -> dict:
    """µs per call of the budget path: rules lookup, reserve, settle (accounts.budgets).

    The caller has a SOEID day budget and a project month budget (two counters), never
    exhausted; a call reserves 1,000 tokens / 0.01 USD and settles to half of that.
    """
    from django.core.management import call_command

    from accounts.services import set_budget

    call_command("migrate", verbosity=0)
    # The machine's load while measuring: other work on a shared machine slows every figure.
    results = {"events": calls, "loadavg_before": os.getloadavg()[0]}
    results.update(_budget_path(calls, batch, "nobody", "none"))
    set_budget(scope="soeid", subject="bench.user", period="day", token_limit=10**15)
    set_budget(scope="project", subject="bench", period="month", token_limit=10**15)
    results.update(_budget_path(calls, batch, "bench.user", "database"))
    with _redis_ledger() as redis_url:
        if redis_url is not None:
            results.update(_budget_path(calls, batch, "bench.user", "redis"))
    results["loadavg_after"] = os.getloadavg()[0]
    return results


def _budget_path(calls: int, batch: int, soeid: str, name: str) -> dict:
    from accounts import budgets

    def one() -> None:
        held = budgets.reserve(soeid=soeid, project="bench", tokens=1000, nanos=10**7)
        held.settle(tokens=500, nanos=5 * 10**6)

    # CPU: this process's only (the redis-server's work and waiting are not in it).
    return _timed(name, calls, batch, one)


def _timed(name: str, calls: int, batch: int, call) -> dict:
    """µs per call(), in batches so the clock's own cost stays out: wall time (mean, p50,
    p99 of the batches) and this thread's CPU. The first batch warms up (connections,
    prepared statements, label series, mapped files) and is not counted."""
    for _ in range(batch):
        call()
    per_call, cpu = [], 0
    for _ in range(0, calls, batch):
        began, began_cpu = time.perf_counter_ns(), time.thread_time_ns()
        for _ in range(batch):
            call()
        cpu += time.thread_time_ns() - began_cpu
        per_call.append((time.perf_counter_ns() - began) / batch / 1000)
    per_call.sort()
    return {
        f"{name}_us_mean": round(statistics.fmean(per_call), 2),
        f"{name}_us_p50": round(per_call[len(per_call) // 2], 2),
        f"{name}_us_p99": round(per_call[int(len(per_call) * 0.99)], 2),
        f"{name}_cpu_us_mean": round(cpu / (len(per_call) * batch) / 1000, 2),
    }


@contextlib.contextmanager
def _redis_ledger():
    """The Redis ledger on a throwaway redis-server, as settings.BUDGETS; None without one."""
    from django.conf import settings
    from django.test import override_settings

    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    server = subprocess.Popen([*command, "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    ledger = {"BACKEND": "accounts.ledger.redis.RedisLedger", "OPTIONS": {"url": url}}
    try:
        _wait_for_port(port)
        with override_settings(BUDGETS={**settings.BUDGETS, "LEDGER": ledger}):
            yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def metrics_cost(requests: int, batch: int = 100) -> dict:
    """µs per request of the metrics' recording: the HTTP observation (every request) and
    an LLM call's (token usage, duration), timed in batches like the hand-off."""
    from django.conf import settings
    from django.test import RequestFactory
    from django.urls import resolve

    from llmproxy.metrics import record_call
    from llmproxy.providers.datatypes import ChatRequest, Usage
    from llmproxy.routing import routing_table
    from llmproxy.services import CallRecord, ChatCall
    from telemetry.metrics import instruments
    from telemetry.metrics.recording import http_request

    request = RequestFactory().post("/v1/chat/completions")
    request.resolver_match = resolve("/v1/chat/completions")
    measured = {"method": "POST", "status_code": 200, "latency_ms": 12.5}
    model = settings.LLM["DEFAULT_MODEL"]
    record = CallRecord(ChatCall(model, ChatRequest({"messages": []})))
    record.route = routing_table().resolve(model)
    record.tried, record.usage, record.seconds = [record.route], Usage(12, 9), 0.2
    results = {"events": requests, "multiprocess": instruments.MULTIPROCESS}
    results.update(_timed("http", requests, batch, lambda: http_request(request, measured)))
    results.update(_timed("llm_call", requests, batch, lambda: record_call(record)))
    return results


PARTS = ("writer", "handoff", "export", "budgets", "metrics")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=PARTS, help="one part per process: a clean CSV each")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    args = parser.parse_args()
    if args.part == "metrics":
        # As under gunicorn (gunicorn.conf.py): chosen before prometheus_client is imported.
        directory = args.out.parent / "prometheus-multiproc"
        directory.mkdir(exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)

    import django

    django.setup()
    if args.part == "writer":
        result = writer_throughput(args.events)
    elif args.part == "handoff":
        result = handoff(args.events)
    elif args.part == "budgets":
        result = budgets(args.events)
    elif args.part == "metrics":
        result = metrics_cost(args.events)
    else:
        result = export(args.events, args.out.parent)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
