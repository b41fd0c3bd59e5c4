"""The report's side-by-side tables: figures and ratios computed from one results file."""

from bench import report


def point(scenario: str, c: int, rps: float, p50: float, p99: float, cpu: float, **extra) -> dict:
    """One measurement as bench/run.py records it (only the fields the report reads)."""
    target = scenario.split("_")[0].replace("gw", "gateway").replace("direct", "nginx")
    return {
        "scenario": scenario,
        "target": target,
        "concurrency": c,
        "rps": rps,
        "p50_ms": p50,
        "p90_ms": p99,
        "p99_ms": p99,
        "duration_s": 6.0,
        "requests": int(rps * 6),
        "warmup_requests": 0,
        "errors": {"status": 0},
        "cpu_ms_per_request": cpu,
        "cpu_share_by_worker": extra.pop("split", [1.0]),
        "workers": extra.pop("workers", 1),
        "rss_peak_mb_by_worker": extra.pop("rss", [50.0]),
        **extra,
    }


def results(**servers) -> dict:
    measurements = [
        point("direct_plain", 1, 9000, 0.1, 0.5, 0.04),
        point("direct_plain", 64, 90000, 0.4, 1.5, 0.01),
        point("gw_chat_plain", 1, 300, 2.1, 5.5, 2.5, workers=2, split=[0.02, 0.98]),
        point(
            "gw_chat_plain",
            64,
            600,
            100.4,
            200.5,
            3.0,
            workers=2,
            split=[0.5, 0.5],
            rss=[85.0, 90.0],
        ),
        point("portkey_chat_plain", 1, 600, 1.1, 4.5, 1.5, rss=[200.0]),
        point("portkey_chat_plain", 64, 750, 80.4, 100.5, 1.2, rss=[223.0]),
        point("litellm_chat_plain", 1, 50, 20.1, 27.5, 20.0, rss=[355.0]),
    ]
    info = {"startup_s": [1.0], "workers": 1, "rss_idle_mb_by_worker": [70.0]}
    defaults = {
        "gateway": {**info, "startup_s": [0.5, 0.6], "workers": 2},
        "portkey": {**info, "version": "1.15.2", "node": "v20.20.2"},
        "litellm": {**info, "startup_s": [6.0], "version": "1.108.7"},
    }
    return {**defaults, **servers, "measurements": measurements}


def rows(markdown: str, first_cell: str) -> list[list[str]]:
    """Cells of the table rows whose first cell starts with `first_cell`."""
    found = []
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0].startswith(first_cell):
            found.append(cells)
    return found


def test_side_by_side_puts_each_server_next_to_the_others():
    text = report.side_by_side(results())

    assert "**/v1/chat/completions**" in text
    [gateway] = rows(text, "dgen-ping")
    [portkey] = rows(text, "Portkey")
    [litellm] = rows(text, "LiteLLM")
    # added p50 / p99 at c=1 (minus direct), CPU lowest–highest, req/s per busy worker (one
    # served all of c=1, both shared c=64), peak RSS
    assert gateway == ["dgen-ping, 2 workers", "2.00 / 5.00", "2.50–3.00", "300 / 300", "90.0"]
    assert portkey[0] == "Portkey 1.15.2 (Node v20.20.2), 1 worker"
    assert portkey[1:] == ["1.00 / 4.00", "1.20–1.50", "600 / 750", "223.0"]
    assert litellm == ["LiteLLM 1.108.7, 1 worker", "20.0 / 27.0", "20.0", "50 / –", "355.0"]


def test_ratios_are_the_gateway_over_each_compared_gateway_at_each_point():
    text = report.ratio_table(results())

    at_1, at_64 = rows(text, "gateway /v1/chat/completions")
    # c; req/s per worker (Portkey, LiteLLM); CPU per request (P, L); added p50 (P, L)
    assert at_1[1:] == ["1", "0.50×", "6.00×", "1.67×", "0.12×", "2.00×", "0.10×"]
    assert at_64[1:] == ["64", "0.40×", "–", "2.50×", "–", "1.25×", "–"]
    assert rows(text, "peak req/s per busy worker")[0][1:] == ["0.40×", "6.00×"]
    assert rows(text, "start-up s")[0][1:] == ["0.60×", "0.10×"]
    assert rows(text, "peak RSS per worker")[0][1:] == ["0.40×", "0.25×"]


def test_a_compared_gateway_that_did_not_run_is_left_out_with_its_reason():
    skipped = results(portkey={"skipped": "node and npm are needed for Portkey's gateway"})
    skipped["measurements"] = [m for m in skipped["measurements"] if m["target"] != "portkey"]

    text = report.ratio_table(skipped)

    assert "Portkey not measured: node and npm are needed" in text
    assert "gateway ÷ Portkey" not in text
    assert rows(text, "gateway /v1/chat/completions")[0][2:] == ["6.00×", "0.12×", "0.10×"]


def test_upstream_calls_per_answer_shows_answers_that_never_reached_the_upstream():
    data = results()
    forwarded, error_path = data["measurements"][4:6]
    forwarded["upstream_requests"] = forwarded["requests"]
    error_path["upstream_requests"] = 0

    text = report.load_table(data)

    [headers] = rows(text, "scenario")
    column = headers.index("upstream calls/answer")
    assert [row[column] for row in rows(text, "Portkey")] == ["1.00", "0.00"]
    assert [row[column] for row in rows(text, "gateway")] == ["–", "–"]  # not counted


def test_the_whole_report_renders_with_three_servers():
    text = report.render(results())

    assert "### Side by side: the gateway, Portkey and LiteLLM" in text
    assert "Portkey 1.15.2 (Node v20.20.2), LiteLLM 1.108.7" in text


def test_reports_on_stored_events_are_tabled_and_checked_against_their_goals():
    timed = {"first_ms": 300.0, "p50_ms": 80.0, "max_ms": 95.0, "calls": 10}
    part = {"dashboard": timed, "usage_me": {**timed, "p50_ms": 4.5}, "usage_me_counted_ms": 900}
    reports = {"events": 1_000_000, "csv": part, "mongodb": {"skipped": "no SecantusDB"}}
    run = {**results(), "reports": reports}
    rendered = report.render(run)
    assert "### Reports on stored events (issue 14)" in rendered
    assert (
        "| CSV | GET /dashboard/ (staff; default view: the last 7 days) | 300.0 | 80.0 | 95.0 |"
        in rendered
    )
    assert "| MongoDB (SecantusDB) | – | no SecantusDB |" in rendered
    goals = {row[0]: row[3] for row in report.budget_rows(run)}
    assert goals["dashboard default view, CSV, 1,000,000 events: p50 ms"] == "pass"
    assert goals["usage/me, MongoDB (SecantusDB), 1,000,000 events: p50 ms"] == "n/a"
    assert "Reports on stored events" not in report.render(results())
