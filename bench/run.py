"""`make bench`: the gateway's cost next to direct calls, Portkey and LiteLLM, on 127.0.0.1.

    python -m bench.run [--quick] [--skip-portkey] [--skip-litellm] [--only=NAME,...] ...
    make bench BENCH_ARGS="--quick"

Starts the fake upstreams (nginx, and a 200 ms asyncio server), the gateway under gunicorn,
Portkey's gateway and LiteLLM's proxy, drives each scenario with wrk, reads the servers' CPU
and memory from /proc and the upstreams' request counts, runs the telemetry
micro-benchmarks, prints the tables and writes
bench/results/<timestamp>.json (turn it into docs tables with `python -m bench.report`).
Every process it starts is stopped at the end, on error and on Ctrl-C. See
docs/benchmarks.md for what each figure means.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    gateway,
    litellm_proxy,
    portkey_gateway,
    procs,
    procstat,
    report,
    scenarios,
    tools,
    upstream,
)
from bench.load import Request, probe
from bench.measure import Target, measure

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPORTS_TIMEOUT = 1800  # seconds: `--only=reports` (a million events) takes about 10 minutes
SLOW_DELAY = 0.2
# Defaults of each profile; `limit` is the whole run's time in seconds, installs included,
# of which `micro_reserve` is kept for the micro-benchmarks.
PROFILES = {
    "full": {
        "duration": 6,
        "warmup": 2,
        "concurrency": [1, 16, 64],
        "slow_concurrency": [64, 256],
        "startups": 3,
        "export_events": 1_000_000,
        "writer_events": 100_000,
        "handoff_events": 20_000,
        "budget_calls": 20_000,
        "report_events": 1_000_000,
        "limit": 570,
        "micro_reserve": 90,
    },
    "quick": {
        "duration": 2,
        "warmup": 1,
        "concurrency": [1, 64],
        "slow_concurrency": [64],
        "startups": 1,
        "export_events": 100_000,
        "writer_events": 20_000,
        "handoff_events": 5_000,
        "budget_calls": 5_000,
        "report_events": 100_000,
        "limit": 178,
        "micro_reserve": 20,
    },
}


def _int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="short run (< 3 min) with fewer concurrencies")
    add("--skip-portkey", action="store_true", help="do not install or run Portkey's gateway")
    add("--skip-litellm", action="store_true", help="do not install or run LiteLLM")
    only_help = (
        "comma-separated scenarios or groups: direct, gateway, portkey, litellm, micro, "
        "reports (run only when named)"
    )
    add("--only", default="", help=only_help + " (needed baselines always run)")
    add("--duration", type=int, help="measured seconds per point (integer: wrk's unit)")
    add("--warmup", type=int, help="warm-up seconds before each point")
    add("--concurrency", type=_int_list, help="e.g. 1,16,64")
    add("--slow-concurrency", type=_int_list, help="for the 200 ms upstream, e.g. 64,256")
    add("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    add("--threads", type=int, help="gunicorn threads per worker (default: gunicorn.conf.py's)")
    add("--startups", type=int, help="gateway start-ups to time")
    add("--export-events", type=int, help="events stored, then exported (default 1M)")
    add("--writer-events", type=int)
    add("--handoff-events", type=int)
    add("--budget-calls", type=int, help="LLM calls through the budget path, per ledger")
    add("--report-events", type=int, help="events stored for --only=reports (default 1M)")
    add("--out", type=Path, help="results JSON (default bench/results/<timestamp>.json)")
    add("--keep-tmp", action="store_true", help="keep the temporary directory (logs, CSVs)")
    args = parser.parse_args(argv)
    profile = PROFILES["quick" if args.quick else "full"]
    for name, value in profile.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    args.only = [item.strip() for item in args.only.split(",") if item.strip()]
    try:
        scenarios.select(args.only, skipped_targets(args))
    except ValueError as exc:
        parser.error(str(exc))
    return args


def skipped_targets(args: argparse.Namespace) -> frozenset[str]:
    return frozenset(peer for peer in scenarios.PEERS if getattr(args, f"skip_{peer}"))


@dataclass
class Run:
    """What one run has started and measured so far."""

    args: argparse.Namespace
    tmp: Path
    tools: dict
    deadline: float
    targets: dict = field(default_factory=dict)
    context: scenarios.Context = field(default_factory=scenarios.Context)
    measurements: list = field(default_factory=list)
    sent: dict = field(default_factory=dict)  # answered requests per target, for telemetry

    def concurrencies(self, scenario: scenarios.Scenario) -> list[int]:
        if scenario.concurrency == scenarios.MAIN:
            return self.args.concurrency
        if scenario.concurrency == scenarios.SLOW:
            return self.args.slow_concurrency
        return list(scenario.concurrency)


def run_scenario(run: Run, scenario: scenarios.Scenario) -> None:
    """Every concurrency of one scenario, or one record saying why it was skipped."""
    base = {"scenario": scenario.name, "target": scenario.target, "title": scenario.title}
    target = run.targets.get(scenario.target)
    if isinstance(target, str):
        return _skip(run, base, target)
    request = scenario.build(run.context)
    problem = probe(target.url, request)
    _count_sent(run, scenario, 1)
    if problem:
        return _skip(run, base, target.exited() or f"probe failed: {problem}")
    timing = (run.args.warmup, run.args.duration)
    for connections in run.concurrencies(scenario):
        point = {**base, "concurrency": connections}
        if time.monotonic() + sum(timing) + 5 > run.deadline:
            _skip(run, point, "time limit of the run reached")
            continue
        try:
            result = measure_point(run, scenario, target, request, connections)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            _skip(run, point, target.exited() or f"wrk failed: {exc}")
            continue
        _count_sent(run, scenario, result["requests"] + result["warmup_requests"])
        run.measurements.append({**point, **result})
        print(report.progress_line(run.measurements[-1]), flush=True)


def measure_point(
    run: Run, scenario: scenarios.Scenario, target: Target, request: Request, connections: int
) -> dict:
    """measure(), and the requests the scenario's upstream received meanwhile."""
    timing = (run.args.warmup, run.args.duration)
    measure_args = (run.tools["wrk"], target, request, connections, timing, run.tmp)
    if not scenario.upstream:
        return measure(*measure_args)
    url = run.targets[scenario.upstream].url
    before = upstream.requests_received(url)
    result = measure(*measure_args)
    # Both readings count themselves: the second one is not a call of the target's.
    return {**result, "upstream_requests": upstream.requests_received(url) - before - 1}


def _count_sent(run: Run, scenario: scenarios.Scenario, requests: int) -> None:
    """Answered requests that should each have left one telemetry row."""
    if scenario.recorded:
        run.sent[scenario.target] = run.sent.get(scenario.target, 0) + requests


def _skip(run: Run, record: dict, reason: str) -> None:
    run.measurements.append({**record, "skipped": reason})
    print(f"  {record['scenario']}: skipped ({reason})", flush=True)


def run_target(run: Run, target: str, selected: list[scenarios.Scenario]) -> None:
    for scenario in selected:
        if scenario.target == target:
            run_scenario(run, scenario)


def start_upstreams(run: Run) -> dict:
    nginx = upstream.start_nginx(run.tools["nginx"], run.tmp)
    slow = upstream.start_slow(run.tmp, SLOW_DELAY)
    run.targets["nginx"] = Target("nginx", nginx.url, nginx.proc)
    run.targets["slow"] = Target("slow", slow.url, slow.proc)
    run.context = replace(run.context, nginx_url=nginx.url, slow_url=slow.url)
    return {"nginx_url": nginx.url, "slow_url": slow.url, "slow_delay_s": SLOW_DELAY}


def server_memory(pid: int) -> dict:
    rss = procstat.rss_mb(pid)
    shipper = procstat.shipper_rss_mb(pid)
    return {
        "workers": len(rss),
        "rss_idle_mb_by_worker": list(rss.values()),
        "shipper_rss_mb": shipper,
    }


def run_gateway(run: Run, env: dict, selected: list) -> dict:
    """Start the gateway --startups times (timing each), measure its scenarios, stop it."""
    if isinstance(run.targets.get("gateway"), str):  # could not even be prepared
        run_target(run, "gateway", selected)
        return {"error": run.targets["gateway"]}
    info = {"startup_s": []}
    try:
        for attempt in range(run.args.startups):
            gw = gateway.start(env, run.tmp, run.args.workers, run.args.threads)
            info["startup_s"].append(round(gw.startup_s, 3))
            if attempt < run.args.startups - 1:
                procs.stop(gw.proc, grace=30)
    except procs.StartError as exc:
        run.targets["gateway"] = f"gateway did not start: {exc}"
        print(run.targets["gateway"], flush=True)
        return {**info, "error": str(exc)}
    config = "gunicorn.conf.py" if gateway.CONFIG_FILE.exists() else "fallback flags"
    info.update(command=" ".join(gw.command[1:]), config=config)
    time.sleep(1)  # let every worker finish booting before the idle reading
    info.update(server_memory(gw.proc.pid))
    run.targets["gateway"] = Target("gateway", gw.url, gw.proc)
    run_target(run, "gateway", selected)
    procs.stop(gw.proc, grace=30)  # graceful: the writer flushes on shutdown
    info["telemetry_rows"] = gateway.telemetry_rows(env)
    info["requests_recorded"] = run.sent.get("gateway", 0)
    return info


def run_peer(run: Run, target: str, start: Callable, selected: list) -> dict:
    """Start a compared gateway with `start()`, measure its scenarios, stop it. `start`
    returns the server (proc, url, startup_s) or raises StartError."""
    try:
        server = start()
    except procs.StartError as exc:
        run.targets[target] = f"{target} did not start: {exc}"
        print(run.targets[target], flush=True)
        return {"error": str(exc)}
    info = {"startup_s": [round(server.startup_s, 3)]}
    time.sleep(1)
    info.update(server_memory(server.proc.pid))
    run.targets[target] = Target(target, server.url, server.proc)
    run_target(run, target, selected)
    procs.stop(server.proc)
    return info


def unavailable(run: Run, target: str, reason: str) -> dict:
    run.targets[target] = reason
    print(f"{target}: {reason}", flush=True)
    return {"skipped": reason}


def run_portkey(run: Run, entry: Path | None, reason: str, selected: list) -> dict:
    if entry is None:
        return unavailable(run, "portkey", reason)
    info = run_peer(run, "portkey", lambda: portkey_gateway.start(entry, run.tmp), selected)
    return {**info, "version": tools.portkey_version(), "node": tools.node_version()}


def run_litellm(run: Run, command: Path | None, reason: str, selected: list) -> dict:
    if command is None:
        return unavailable(run, "litellm", reason)
    nginx, slow = run.targets["nginx"].url, run.targets["slow"].url

    def start() -> litellm_proxy.LiteLLM:
        proxy = litellm_proxy.start(command, run.tmp, nginx, slow)
        run.context = replace(run.context, litellm_key=proxy.key)
        return proxy

    info = run_peer(run, "litellm", start, selected)
    return {**info, "version": tools.package_version(command.with_name("python"), "litellm")}


def run_micro(run: Run, env: dict) -> dict:
    """Each micro-benchmark in its own child, with a CSV directory of its own."""
    sizes = {"writer": run.args.writer_events, "handoff": run.args.handoff_events}
    sizes.update(export=run.args.export_events, budgets=run.args.budget_calls)
    sizes.update(metrics=run.args.handoff_events)  # requests, as many as hand-offs
    return {part: micro_part(run, env, part, events) for part, events in sizes.items()}


def micro_part(run: Run, env: dict, part: str, events: int) -> dict:
    timeout = max(run.deadline - time.monotonic(), 10)
    print(f"  micro {part} ({events:,} events) ...", flush=True)
    return child_part(
        run, env, f"micro-{part}", ["bench.micro", part, "--events", str(events)], timeout
    )


def run_reports(run: Run, env: dict) -> dict:
    """Reports on a million stored events (bench/reports.py), with no time limit of the
    run's: loading MongoDB alone takes minutes on SecantusDB."""
    events = run.args.report_events
    print(f"  reports ({events:,} events on CSV, then on MongoDB) ...", flush=True)
    return child_part(
        run, env, "reports", ["bench.reports", "--events", str(events)], REPORTS_TIMEOUT
    )


def child_part(run: Run, env: dict, name: str, module_args: list[str], timeout: float) -> dict:
    """`python -m MODULE ARGS --out result.json` in a child with a CSV directory, database
    and static files of its own; the result it wrote, or why there is none."""
    part_dir = run.tmp / name
    part_dir.mkdir()
    out, log = part_dir / "result.json", part_dir / "child.log"
    child_env = {**env, "CSV_FALLBACK_DIR": str(part_dir / "telemetry")}
    child_env["DATABASE_URL"] = f"sqlite:///{part_dir / 'db.sqlite3'}"
    child_env["STATIC_ROOT"] = str(part_dir / "static")
    command = [sys.executable, "-m", *module_args, "--out", str(out)]
    # Spawned like the servers, so a Ctrl-C also stops the processes it starts.
    proc = procs.spawn(command, log, child_env, cwd=gateway.ROOT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    finally:
        procs.stop(proc)
    if out.exists() and not proc.returncode:
        return json.loads(out.read_text())
    failed = {"error": f"exit {proc.returncode}: {procs.log_tail(log, 15)}"}
    return {**json.loads(out.read_text()), **failed} if out.exists() else failed


def machine(run: Run) -> dict:
    """The machine and the versions every figure depends on."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    cpu = models[0] if models else "unknown"
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "gunicorn": tools.package_version(sys.executable, "gunicorn"),
        "django": tools.package_version(sys.executable, "Django"),
        "nginx": tools.tool_version([run.tools["nginx"], "-v"]).split(": ")[-1],
        "wrk": tools.tool_version([run.tools["wrk"], "-v"]).split(" Copyright")[0],
    }


def execute(run: Run, selected: list, want_micro: bool, peers: dict[str, tuple]) -> dict:
    """Everything measured, in order: baselines, the gateway, the compared gateways, the
    micro-benchmarks. `peers`: each compared gateway's (installed path, or None and why)."""
    results = {"machine": machine(run), "upstream": start_upstreams(run)}
    env = gateway.environment(run.tmp, run.targets["nginx"].url, run.targets["slow"].url)
    run_target(run, "nginx", selected)
    run_target(run, "slow", selected)
    if any(s.target == "gateway" for s in selected):
        try:
            token = gateway.prepare(env)
        except RuntimeError as exc:
            token, run.targets["gateway"] = "", str(exc)
            print(exc, flush=True)
        run.context = replace(run.context, gateway_token=token, token_secret=env["TOKEN_SECRET"])
        results["gateway"] = run_gateway(run, env, selected)
    if "portkey" in peers:
        results["portkey"] = run_portkey(run, *peers["portkey"], selected)
    if "litellm" in peers:
        results["litellm"] = run_litellm(run, *peers["litellm"], selected)
    procs.stop_all()  # the upstreams: the micro-benchmarks want the CPU to themselves
    if want_micro:
        run.deadline += run.args.micro_reserve
        results["micro"] = run_micro(run, env)
    if "reports" in run.args.only:
        results["reports"] = run_reports(run, env)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, started_at = time.monotonic(), datetime.now(UTC)
    procs.install_cleanup()
    selected = scenarios.select(args.only, skipped_targets(args))
    want_micro = not args.only or "micro" in args.only
    found = tools.ensure_apt_tools()
    installers = {"portkey": tools.ensure_portkey, "litellm": tools.ensure_litellm}
    wanted = {s.target for s in selected}
    peers = {peer: install() for peer, install in installers.items() if peer in wanted}
    deadline = started + args.limit - args.micro_reserve
    tmp = Path(tempfile.mkdtemp(prefix="dgen-bench-"))
    run = Run(args, tmp, found, deadline)
    try:
        results = execute(run, selected, want_micro, peers)
    except KeyboardInterrupt:
        print("\nInterrupted: stopping every process started.", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if args.keep_tmp:
            print(f"Temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results.update(
        started_at=started_at.isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - started, 1),
        options={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        measurements=run.measurements,
    )
    out = args.out or RESULTS_DIR / f"{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(report.render(results))
    print(f"\nResults: {out}  (markdown: python -m bench.report {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
