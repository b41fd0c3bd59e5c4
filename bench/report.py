"""Markdown tables from a results JSON of bench/run.py, for the terminal and for
docs/benchmarks.md:   python -m bench.report bench/results/<timestamp>.json

Everything derived (added latency, share of direct throughput, upstream calls per answer,
the side-by-side tables and ratios to Portkey and LiteLLM, the budget of issue 6) is computed
here from the raw measurements, so any results file can be re-rendered the same way.
"""

import argparse
import json
from pathlib import Path

from bench.scenarios import BY_NAME, PEERS, SCENARIOS

NON_STREAMED = ("gw_completion", "gw_chat_plain")
SERVERS = ("gateway", *PEERS)
BUSY_SHARE = 0.1  # a worker with less of a point's CPU than this did not serve it
SERVER_NAMES = {
    "gateway": "dgen-ping",
    "portkey": "Portkey {version} (Node {node})",
    "litellm": "LiteLLM {version}",
}


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        digits = 2 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
        return f"{value:,.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _one_line(str(value)).replace("|", "\\|")


def _one_line(text: str, limit: int = 300) -> str:
    """Log tails and error pages squeezed into one table cell or list item."""
    return " ".join(text.split())[:limit]


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[_fmt(cell) for cell in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def measured(results: dict) -> dict[tuple[str, int], dict]:
    """Measurements that ran, by (scenario, concurrency)."""
    return {
        (m["scenario"], m["concurrency"]): m
        for m in results.get("measurements", [])
        if "skipped" not in m
    }


def _errors(m: dict) -> str:
    errors = {k: v for k, v in m["errors"].items() if v}
    return ", ".join(f"{k} {v}" for k, v in errors.items()) or "0"


def added(m: dict, points: dict) -> dict:
    """A proxied target (gateway, Portkey, LiteLLM) minus direct at the same concurrency, and
    the share of direct throughput kept; empty when there is no baseline point."""
    base = points.get((BY_NAME[m["scenario"]].baseline, m["concurrency"]))
    if not base:
        return {}
    return {
        "p50_ms": m["p50_ms"] - base["p50_ms"],
        "p99_ms": m["p99_ms"] - base["p99_ms"],
        "share_of_direct": m["rps"] / base["rps"],
    }


def progress_line(m: dict) -> str:
    return (
        f"  {m['scenario']:<20} c={m['concurrency']:<4} {m['rps']:>9,.0f} req/s  "
        f"p50 {m['p50_ms']:.2f}  p90 {m['p90_ms']:.2f}  p99 {m['p99_ms']:.2f} ms  "
        f"cpu {m['cpu_ms_per_request']:.3f} ms/req  errors {_errors(m)}"
    )


def load_table(results: dict) -> str:
    points = measured(results)
    rows = []
    for (name, conc), m in points.items():
        extra = added(m, points)
        share = extra.get("share_of_direct")
        rows.append(
            [
                BY_NAME[name].title,
                conc,
                f"{m['rps']:,.0f}" + (" ⚠" if short_window(m) else ""),
                round(m["rps"] / max(m["workers"], 1)),
                m["p50_ms"],
                m["p90_ms"],
                m["p99_ms"],
                extra.get("p50_ms"),
                extra.get("p99_ms"),
                f"{share:.0%}" if share is not None else None,
                upstream_per_answer(m),
                round(m["cpu_ms_per_request"], 3),
                "/".join(f"{s:.0%}" for s in m["cpu_share_by_worker"]),
                max(m["rss_peak_mb_by_worker"], default=None),
                _errors(m),
            ]
        )
    headers = ["scenario", "c", "req/s", "req/s/worker", "p50 ms", "p90 ms", "p99 ms"]
    headers += ["added p50", "added p99", "of direct req/s", "upstream calls/answer"]
    headers += ["CPU ms/req", "CPU split"]
    legend = (
        "\n\nupstream calls/answer: requests the fake upstream received during the point "
        "(warm-up included) ÷ answers wrk counted; 1.00 when each answer came from one upstream "
        "call, a little above when requests were in flight as wrk stopped, below 1 when "
        "answers never reached the upstream (an error path)."
    )
    if any(short_window(m) for m in points.values()):
        legend += (
            "\n\n⚠: the median request took over a tenth of the measured window, so req/s is "
            "understated and CPU ms/req overstated (requests still in flight at the end are not "
            "counted); rerun with a longer --duration for that point."
        )
    return table([*headers, "peak RSS MB/worker", "errors"], rows) + legend


def upstream_per_answer(m: dict) -> str | None:
    if "upstream_requests" not in m:
        return None
    return f"{m['upstream_requests'] / max(m['requests'] + m['warmup_requests'], 1):.2f}"


def short_window(m: dict) -> bool:
    return m["p50_ms"] > m["duration_s"] * 1000 / 10


def skipped(results: dict) -> str:
    lines = []
    for m in results.get("measurements", []):
        if "skipped" in m:
            where = f" c={m['concurrency']}" if "concurrency" in m else ""
            lines.append(f"- {m['scenario']}{where}: {_one_line(m['skipped'])}")
    return "\n".join(lines)


def peak_rss(results: dict, target: str) -> float | None:
    peaks = [
        max(m["rss_peak_mb_by_worker"], default=0)
        for m in measured(results).values()
        if m["target"] == target
    ]
    return max(peaks, default=None)


def servers_table(results: dict) -> str:
    rows = []
    for target in SERVERS:
        info = results.get(target)
        if not info:
            continue
        if "startup_s" not in info or "workers" not in info:
            rows.append([target, info.get("skipped") or info.get("error", "")] + [None] * 5)
            continue
        telemetry = None
        if "telemetry_rows" in info:
            requests = info["requests_recorded"]
            telemetry = f"{info['telemetry_rows']:,} rows for {requests:,} requests"
        rows.append(
            [
                target,
                info.get("command") or server_name(results, target),
                info["workers"],
                " ".join(f"{s:.2f}" for s in info["startup_s"]),
                " ".join(f"{r:.0f}" for r in info["rss_idle_mb_by_worker"]),
                peak_rss(results, target),
                telemetry,
            ]
        )
    headers = ["server", "run as", "workers", "start-up s", "idle RSS MB/worker"]
    return table([*headers, "peak RSS MB/worker", "telemetry written"], rows)


def server_name(results: dict, target: str) -> str:
    info = results.get(target, {})
    return SERVER_NAMES[target].format(version=info.get("version"), node=info.get("node"))


def peak_rate(results: dict, scenario: str) -> float | None:
    """Highest requests/s per worker of a scenario over its concurrencies: its capacity."""
    rates = [rate(m) for (name, _), m in measured(results).items() if name == scenario]
    return max(rates, default=None)


def rate(m: dict) -> float:
    """Requests/s per worker that served the point: per process for Portkey and LiteLLM (one
    each), and at c=1, where one request is in flight at a time, the one gunicorn worker
    that served them all rather than half of it."""
    busy = sum(share >= BUSY_SHARE for share in m["cpu_share_by_worker"])
    return m["rps"] / max(busy, 1)


def _ratio(a, b) -> str | None:
    """a ÷ b, when both were measured and are positive (an added latency can come out at or
    below zero at the noise level, and a ratio of it means nothing)."""
    if not a or not b or a <= 0 or b <= 0:
        return None
    value = a / b
    if value < 0.01:
        return "< 0.01×"
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


COMPARED = [s for s in SCENARIOS if s.counterparts]  # the gateway's side of each comparison
NOTHING_TO_COMPARE = "Nothing to compare: no point of the gateway next to Portkey's or LiteLLM's."


def side_by_side(results: dict) -> str:
    """Per request, each server's figures next to the others' (the table of issue 15)."""
    points = measured(results)
    blocks = []
    for scenario in COMPARED:
        names = [scenario.name, *scenario.counterparts]
        present = [name for name in names if any(key[0] == name for key in points)]
        if len(present) < 2:
            continue
        conc = sorted({c for (name, c) in points if name in present})
        headers = ["server", f"added p50 / p99 at c={conc[0]}, ms", "CPU ms per request"]
        headers += [f"req/s per busy worker at c={' / '.join(map(str, conc))}"]
        headers += ["peak RSS MB/worker"]
        rows = [side_by_side_row(results, points, name, conc) for name in present]
        blocks.append(f"**{scenario.title.removeprefix('gateway ')}**\n\n{table(headers, rows)}")
    return "\n\n".join(blocks) or NOTHING_TO_COMPARE


def side_by_side_row(results: dict, points: dict, name: str, conc: list[int]) -> list:
    """One server's row: added latency at the lowest concurrency, CPU per request over all
    of them (lowest–highest), req/s per worker at each, and peak RSS."""
    own = {c: points[(name, c)] for c in conc if (name, c) in points}
    first = added(own[conc[0]], points) if conc[0] in own else {}
    latency = f"{_fmt(first['p50_ms'])} / {_fmt(first['p99_ms'])}" if first else None
    cpu = sorted(m["cpu_ms_per_request"] for m in own.values())
    cpu_range = "–".join(dict.fromkeys(_fmt(c) for c in (cpu[0], cpu[-1])))
    rates = " / ".join(f"{rate(own[c]):,.0f}" if c in own else "–" for c in conc)
    peak = max(max(m["rss_peak_mb_by_worker"], default=0) for m in own.values())
    target = BY_NAME[name].target
    workers = results.get(target, {}).get("workers", 0)
    label = f"{server_name(results, target)}, {workers} worker{'s' if workers != 1 else ''}"
    return [label, latency, cpu_range, rates, peak]


def ratio_table(results: dict) -> str:
    """Gateway ÷ Portkey and gateway ÷ LiteLLM: per point, then per server."""
    peers = [peer for peer in PEERS if "workers" in results.get(peer, {})]
    notes = [
        f"{PEERS[peer]} not measured: {_why(results[peer])}"
        for peer in PEERS
        if peer in results and peer not in peers
    ]
    rows = ratio_rows(results, peers)
    if not rows:
        return "\n\n".join([NOTHING_TO_COMPARE, *notes])
    headers = ["scenario", "c"]
    for figure in ("req/s per busy worker", "CPU per request", "added p50"):
        headers += [f"{figure}: gateway ÷ {PEERS[peer]}" for peer in peers]
    per_point = table(headers, rows)
    figures = ["figure", *(f"gateway ÷ {PEERS[peer]}" for peer in peers)]
    per_server = table(figures, summary_rows(results, peers))
    legend = (
        "req/s: above 1× the gateway serves more; CPU, added p50, start-up and RSS: below 1× "
        "it costs less."
    )
    return "\n\n".join([per_point, per_server, legend, *notes])


def ratio_rows(results: dict, peers: list[str]) -> list[list]:
    """Gateway ÷ each compared gateway, point by point, from the same run."""
    points = measured(results)
    rows = []
    for (name, conc), gw in points.items():
        scenario = BY_NAME[name]
        others = [points.get((scenario.counterpart(peer), conc)) for peer in peers]
        if not scenario.counterparts or not any(others):
            continue
        row = [scenario.title, conc]
        for figure in (rate, _cpu, lambda m: added(m, points).get("p50_ms")):
            row += [_ratio(figure(gw), figure(other)) if other else None for other in others]
        rows.append(row)
    return rows


def _cpu(m: dict) -> float:
    return m["cpu_ms_per_request"]


def summary_rows(results: dict, peers: list[str]) -> list[list]:
    """Per server: peak capacity, start-up and memory, gateway ÷ each compared gateway."""
    capacity = [peak_rate(results, BY_NAME["gw_chat_plain"].counterpart(p)) for p in peers]
    startups = [_worst_startup(results[peer]) for peer in peers]
    memory = [peak_rss(results, peer) for peer in peers]
    gateway = results.get("gateway", {})
    return [
        ["peak req/s per busy worker (any c), /v1/chat/completions"]
        + [_ratio(peak_rate(results, "gw_chat_plain"), other) for other in capacity],
        ["start-up s (worst)"] + [_ratio(_worst_startup(gateway), other) for other in startups],
        ["peak RSS per worker"] + [_ratio(peak_rss(results, "gateway"), other) for other in memory],
    ]


def _worst_startup(info: dict) -> float | None:
    return max(info.get("startup_s") or [0]) or None


MICRO_FIGURES = (
    ("handoff", "us_per_event_mean", "telemetry hand-off on the request thread, µs/event (mean)"),
    ("handoff", "us_per_event_p99", "telemetry hand-off, µs/event (p99 of 100-event batches)"),
    ("writer", "events_per_s", "background writer, hand-off → CSV rows, events/s"),
    ("export", "events_per_s", "export, events/s (slowest format)"),
    ("export", "peak_rss_mb", "export, peak RSS MB (slowest format)"),
    ("budgets", "none_us_mean", "budgets, none binding (the lookup), µs/call"),
    ("budgets", "database_us_mean", "budgets, 2 binding, database ledger (SQLite), µs/call"),
    ("budgets", "database_us_p99", "budgets, 2 binding, database ledger, p99 µs/call"),
    ("budgets", "redis_us_mean", "budgets, 2 binding, Redis ledger, µs/call"),
    ("budgets", "redis_us_p99", "budgets, 2 binding, Redis ledger, p99 µs/call"),
    ("metrics", "http_cpu_us_mean", "metrics, HTTP observation (every request), CPU µs"),
    ("metrics", "llm_call_cpu_us_mean", "metrics, an LLM call's observations, CPU µs"),
    ("metrics", "llm_call_us_p99", "metrics, an LLM call's observations, p99 µs"),
)


def micro_table(results: dict) -> str:
    micro = results.get("micro", {})
    rows = []
    for part, key, label in MICRO_FIGURES:
        value = micro.get(part, {})
        events = f"{value['events']:,}" if "events" in value else None
        rows.append([label, events, value.get(key) or _why(value)])
    export = micro.get("export", {})
    for fmt, result in export.get("by_format", {}).items():
        figures = f"{result['events_per_s']:,} events/s, peak RSS {result['peak_rss_mb']} MB"
        rows.append([f"export as {fmt}", f"{export['events']:,}", figures])
    return table(["micro-benchmark", "events", "measured"], rows)


REPORT_STORES = {"csv": "CSV", "mongodb": "MongoDB (SecantusDB)"}
REPORT_REQUESTS = (
    ("dashboard", "GET /dashboard/ (staff; default view: the last 7 days)"),
    ("usage_me", "GET /api/telemetry/usage/me (a user token; all time)"),
)


def reports_table(results: dict) -> str:
    """Reports on stored events (bench/reports.py), per store: each request's first answer,
    then the median and worst of the next ones."""
    reports = results.get("reports", {})
    rows = []
    for store, name in REPORT_STORES.items():
        part = reports.get(store, {})
        if "dashboard" not in part:
            rows.append([name, "–", _why(part), None, None])
            continue
        for key, request in REPORT_REQUESTS:
            timed = part[key]
            rows.append([name, request, timed["first_ms"], timed["p50_ms"], timed["max_ms"]])
        counted = "GET usage/me?since=7d (not whole days: counts the events)"
        rows.append([name, counted, part["usage_me_counted_ms"], None, None])
    events = f"{reports['events']:,}" if "events" in reports else "–"
    headers = ["store", f"request, {events} events stored", "first ms", "p50 ms", "max ms"]
    return table(headers, rows)


def report_budget_rows(results: dict) -> list[list]:
    """Issue 14's speed goals, when reports ran."""
    reports = results.get("reports")
    if not reports:
        return []
    rows = []
    for store, name in REPORT_STORES.items():
        part = reports.get(store, {})
        dashboard = part.get("dashboard", {}).get("p50_ms")
        mine = part.get("usage_me", {}).get("p50_ms")
        events = f"{reports['events']:,} events"
        rows.append(
            _check(f"dashboard default view, {name}, {events}: p50 ms", "≤ 1000", dashboard, 1000)
        )
        rows.append(_check(f"usage/me, {name}, {events}: p50 ms", "≤ 100", mine, 100))
    return rows


def _why(value: dict) -> str:
    return value.get("skipped") or value.get("error") or "not run"


def _check(label: str, budget: str, value, limit: float, higher_is_better: bool = False):
    if value is None or isinstance(value, str):
        return [label, budget, value or "not measured", "n/a"]
    ok = value >= limit if higher_is_better else value <= limit
    miss = (limit - value) / limit if higher_is_better else (value - limit) / limit
    return [label, budget, round(value, 3), "pass" if ok else f"miss by {miss:.0%}"]


def budget_rows(results: dict) -> list[list]:
    """Issue 6's budget (and issue 13's for budgets on the call path, issue 14's for the
    metrics), target by target."""
    points = measured(results)
    rows = []
    for name in NON_STREAMED:
        title = BY_NAME[name].title
        at_1 = points.get((name, 1))
        extra = added(at_1, points) if at_1 else {}
        rows.append(_check(f"{title}: added p50, c=1", "≤ 1.5 ms", extra.get("p50_ms"), 1.5))
        rows.append(_check(f"{title}: added p99, c=1", "≤ 5 ms", extra.get("p99_ms"), 5))
        cpu = at_1["cpu_ms_per_request"] if at_1 else None
        rows.append(_check(f"{title}: CPU per request, c=1", "≤ 2 ms", cpu, 2))
        cpu_64 = points.get((name, 64), {}).get("cpu_ms_per_request")
        rows.append(_check(f"{title}: CPU per request, c=64", "≤ 2 ms", cpu_64, 2))
    gateway, litellm = peak_rate(results, "gw_chat_plain"), peak_rate(results, "litellm_chat_plain")
    ratio = gateway / litellm if gateway and litellm else None
    label = "peak req/s per worker, /v1/chat/completions: gateway ÷ LiteLLM"
    rows.append(_check(label, "≥ 5×", ratio, 5, higher_is_better=True))
    slow = points.get(("gw_chat_slow", 64))
    share = added(slow, points).get("share_of_direct") if slow else None
    rows.append(_check("200 ms upstream, c=64: share of direct req/s", "≥ 0.9", share, 0.9, True))
    rows.append(_check("RSS per worker (peak)", "≤ 100 MB", peak_rss(results, "gateway"), 100))
    startup = max(results.get("gateway", {}).get("startup_s") or [None])
    rows.append(_check("start-up to first /health 200 (worst)", "≤ 1 s", startup, 1))
    micro = results.get("micro", {})
    handoff = micro.get("handoff", {}).get("us_per_event_mean")
    rows.append(_check("telemetry hand-off", "≤ 50 µs/event", handoff, 50))
    export = micro.get("export", {})
    events = export.get("events") or results.get("options", {}).get("export_events", 0)
    label = f"export of {events:,} events"
    export_rate = export.get("events_per_s")
    rows.append(_check(label, "≥ 100k events/s", export_rate, 100_000, higher_is_better=True))
    rows.append(_check("export peak RSS", "≤ 200 MB", export.get("peak_rss_mb"), 200))
    budgets = micro.get("budgets", {})
    database, redis = budgets.get("database_us_mean"), budgets.get("redis_us_mean")
    rows.append(_check("budgets on the call path, database ledger", "≤ 100 µs", database, 100))
    rows.append(_check("budgets on the call path, Redis ledger", "≤ 300 µs", redis, 300))
    metrics = micro.get("metrics", {})
    costs = [metrics.get("http_cpu_us_mean"), metrics.get("llm_call_cpu_us_mean")]
    cost = sum(costs) if None not in costs else None
    rows.append(_check("metrics on an LLM request (HTTP + call), CPU", "≤ 50 µs", cost, 50))
    return rows + report_budget_rows(results)


def machine_lines(results: dict) -> str:
    m = results.get("machine", {})
    peers = ", ".join(
        server_name(results, peer) if "version" in results.get(peer, {}) else f"{name} not run"
        for peer, name in PEERS.items()
    )
    return "\n".join(
        [
            f"- CPU: {m.get('cpu')}, {m.get('nproc')} cores; memory {m.get('memory_gb')} GB; "
            f"Linux {m.get('kernel')}",
            f"- Python {m.get('python')}, gunicorn {m.get('gunicorn')}, Django {m.get('django')}, "
            f"{m.get('nginx')}, {m.get('wrk')}; {peers}",
            f"- Run: {results.get('started_at')}, {results.get('seconds')} s, options "
            f"{_options(results)}",
            f"- {_others_line(results)}",
        ]
    )


def _others_line(results: dict) -> str:
    """How busy the machine was with other work while points were measured."""
    busy = [m["others_cores_busy"] for m in results["measurements"] if "others_cores_busy" in m]
    if not busy:
        return "Other load during the measured windows: not recorded"
    mean = sum(busy) / len(busy)
    return (
        f"Other load during the measured windows (processes outside this run, and steal): "
        f"{mean:.2f} cores on average, {max(busy):.2f} at most, of {results['machine']['nproc']}"
    )


def _options(results: dict) -> str:
    o = results.get("options", {})
    keys = ("quick", "duration", "warmup", "concurrency", "slow_concurrency", "workers", "threads")
    return ", ".join(f"{k}={o.get(k)}" for k in keys)


def render(results: dict) -> str:
    budget = table(["target", "budget", "measured", "result"], budget_rows(results))
    sections = [
        ("Machine", machine_lines(results)),
        ("Servers", servers_table(results)),
        ("Load (wrk, keep-alive; latency in ms)", load_table(results)),
        ("Side by side: the gateway, Portkey and LiteLLM", side_by_side(results)),
        ("Gateway ÷ Portkey, gateway ÷ LiteLLM (same run, per point)", ratio_table(results)),
        ("Micro-benchmarks: telemetry, budgets and metrics", micro_table(results)),
    ]
    if "reports" in results:
        sections.append(("Reports on stored events (issue 14)", reports_table(results)))
    sections.append(("Budget (issue 6)", budget))
    if skip := skipped(results):
        sections.append(("Not measured", skip))
    return "\n\n".join(f"### {title}\n\n{body}" for title, body in sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    print(render(json.loads(args.results.read_text())))


if __name__ == "__main__":
    main()
