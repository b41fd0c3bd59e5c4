"""The dashboard's pages through Django's whole request cycle: who may see them, and that
their figures are telemetry_stats's and their download export_telemetry's."""

import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts.services import set_budget
from accounts.tokens import issue_token
from dgen_ping_site.clock import utcnow
from tests.telemetry.conftest import REPORT_MONGO, use_store
from tests.telemetry.dashboard.conftest import PASSWORD
from tests.telemetry.dashboard.page import figures, number, table

DASHBOARD, DOWNLOAD = "/dashboard/", "/dashboard/events.csv"
FIGURES = (
    "requests", "prompt_tokens", "completion_tokens", "cost", "errors",
    "p50_latency_ms", "p95_latency_ms",
)  # fmt: skip


def stats(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("telemetry_stats", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())["rows"]


def days_back(days: int) -> list[str]:
    """telemetry_stats' options for the last `days` UTC days, today included."""
    today = utcnow().date()
    first, end = today - timedelta(days=days - 1), today + timedelta(days=1)
    return ["--since", first.isoformat(), "--until", end.isoformat()]


# --- who may see it ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DASHBOARD, DOWNLOAD])
def test_anyone_but_staff_is_sent_to_the_admins_login(client, db, report_store, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/admin/login/?next={path}")
    token = issue_token(soeid="alice").token  # a user token is not enough
    assert client.get(path, HTTP_X_API_TOKEN=token).status_code == 302
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 302
    User.objects.create_user("clerk", password=PASSWORD)  # nor a session that is not staff
    client.login(username="clerk", password=PASSWORD)
    assert client.get(path).status_code == 302


def test_staff_see_it_linked_from_the_admin_index(staff_client, report_store):
    index = staff_client.get("/admin/").content.decode()
    assert '<a href="/dashboard/">Usage dashboard</a>' in index
    response = staff_client.get(DASHBOARD)
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert staff_client.get("/dashboard?soeid=a").url == "/dashboard/?soeid=a"


# --- what it shows -------------------------------------------------------------------------


def test_the_default_view_is_the_last_7_days_with_the_figures_of_telemetry_stats(
    staff_client, recent
):
    page = staff_client.get(DASHBOARD).content.decode()
    (expected,) = stats(*days_back(7))
    assert figures(page) == {name: expected[name] for name in FIGURES}
    assert expected["requests"] < len(recent)  # older events are not in the view


@pytest.mark.parametrize(
    "query, options",
    [
        ({"period": "today"}, days_back(1)),
        ({"period": "30d", "soeid": "alice"}, [*days_back(30), "--soeid", "alice"]),
        (
            {"period": "7d", "project": "p1", "model": "gpt"},
            [*days_back(7), "--project", "p1", "--model", "gpt"],
        ),
    ],
)
def test_each_filter_shows_the_figures_of_telemetry_stats(staff_client, recent, query, options):
    page = staff_client.get(DASHBOARD, query).content.decode()
    (expected,) = stats(*options)
    assert figures(page) == {name: expected[name] for name in FIGURES}


def test_a_custom_period_includes_its_last_day(staff_client, recent):
    last = utcnow().date() - timedelta(days=1)
    first = last - timedelta(days=2)
    query = {"period": "custom", "since": first.isoformat(), "until": last.isoformat()}
    page = staff_client.get(DASHBOARD, query).content.decode()
    options = ["--since", first.isoformat(), "--until", utcnow().date().isoformat()]
    (expected,) = stats(*options)
    assert figures(page)["requests"] == expected["requests"] > 0


def test_tables_rank_people_and_projects_and_name_errors_as_stats_groups_them(staff_client, recent):
    page = staff_client.get(DASHBOARD, {"period": "30d"}).content.decode()
    by_soeid = {
        row["soeid"] or "(none)": row for row in stats(*days_back(30), "--group-by", "soeid")
    }
    shown = table(page, "top-soeids")
    assert {cells[0]: (number(cells[1]), number(cells[2])) for cells in shown} == {
        soeid: (row["requests"], row["total_tokens"]) for soeid, row in by_soeid.items()
    }
    tokens = [number(cells[2]) for cells in shown]
    assert tokens == sorted(tokens, reverse=True)
    by_status = stats(*days_back(30), "--group-by", "status")
    assert [(cells[0], number(cells[1])) for cells in table(page, "errors")] == [
        (f"HTTP {row['status']}" if row["status"] >= 400 else f"error after HTTP {row['status']}",
         row["errors"])
        for row in by_status if row["errors"]
    ]  # fmt: skip


def test_people_and_projects_drill_down_keeping_the_other_filters(staff_client, recent):
    page = staff_client.get(DASHBOARD, {"period": "30d", "model": "gpt"}).content.decode()
    assert 'href="?period=30d&amp;model=gpt&amp;soeid=alice"' in page
    assert 'href="?period=30d&amp;model=gpt&amp;project=p2"' in page
    charts = json.loads(page.split('id="dashboard-data" type="application/json">')[1].split("<")[0])
    assert "?period=30d&model=gpt&soeid=alice" in charts["soeids"]["links"]


def test_every_chart_has_its_data(staff_client, recent):
    page = staff_client.get(DASHBOARD).content.decode()
    charts = json.loads(page.split('id="dashboard-data" type="application/json">')[1].split("<")[0])
    days = [(utcnow().date() - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    for name in ("requests", "tokens", "cost", "latency"):
        assert charts[name]["labels"] == days
    series = [s["data"] for s in charts["requests"]["series"]]
    per_model = [sum(values) for values in zip(*series, strict=True)]
    per_day = {row["day"]: row["requests"] for row in stats(*days_back(7), "--group-by", "day")}
    assert per_model == [per_day.get(day, 0) for day in days]
    assert {"p50", "p95"} == {series["label"] for series in charts["latency"]["series"]}
    assert (
        charts["errors"]["labels"] and charts["soeids"]["labels"] and charts["projects"]["labels"]
    )


def test_nothing_to_show_says_so(staff_client, report_store):
    page = staff_client.get(DASHBOARD).content.decode()
    assert "No events match these filters in this period." in page


@pytest.mark.parametrize(
    "query, message",
    [
        ({"period": "custom"}, "needs both dates"),
        ({"period": "custom", "since": "2025-02-01", "until": "2025-01-01"}, "start before"),
        ({"period": "custom", "since": "2023-01-01", "until": "2025-01-01"}, "at most 366"),
        ({"period": "fortnight"}, "Select a valid choice"),
        ({"soeid": "x" * 65}, "at most 64"),
    ],
)
def test_bad_filters_are_said_on_the_page(staff_client, report_store, query, message):
    response = staff_client.get(DASHBOARD, query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_unreachable_store_is_said_on_the_page(staff_client, settings, tmp_path, flaky_mongo):
    use_store(settings, tmp_path, "mongo")
    flaky_mongo.down(REPORT_MONGO)
    response = staff_client.get(DASHBOARD)
    assert response.status_code == 503
    assert "telemetry store is unavailable" in response.content.decode()


# --- budgets --------------------------------------------------------------------------------


def test_budget_use_of_the_people_and_projects_in_view(staff_client, recent):
    set_budget(scope="soeid", subject="alice", period="day", token_limit=1000)
    set_budget(scope="project", subject="p1", period="month", cost_limit="50")
    set_budget(scope="default_soeid", subject="", period="week", token_limit=5000)
    set_budget(scope="project", subject="elsewhere", period="day", token_limit=10)
    page = staff_client.get(DASHBOARD).content.decode()
    shown = [cells[0] for cells in table(page, "budgets")]
    assert "soeid alice, day" in shown and "project p1, month" in shown
    assert "soeid bob, week(default per SOEID)" in shown  # the default, as it binds bob
    assert not any("elsewhere" in name for name in shown)  # no usage in view
    filtered = staff_client.get(DASHBOARD, {"soeid": "bob"}).content.decode()
    # bob's own (the default), and those of the projects bob used: not alice's.
    assert {cells[0] for cells in table(filtered, "budgets")} == {
        "soeid bob, week(default per SOEID)",
        "project p1, month",
    }


# --- the download ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, options",
    [
        ({}, days_back(7)),
        (
            {"period": "30d", "soeid": "alice", "model": "gpt"},
            [*days_back(30), "--soeid", "alice", "--model", "gpt"],
        ),
        ({"period": "today", "project": "p2"}, [*days_back(1), "--project", "p2"]),
    ],
)
def test_the_download_is_export_telemetry_with_the_same_filters(
    staff_client, recent, query, options
):
    response = staff_client.get(DOWNLOAD, query)
    assert response.streaming and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="telemetry-')
    out = io.StringIO()
    call_command("export_telemetry", "--format", "csv", *options, stdout=out, stderr=io.StringIO())
    downloaded = b"".join(response.streaming_content).decode()
    assert downloaded == out.getvalue() and downloaded.count("\n") > 1
