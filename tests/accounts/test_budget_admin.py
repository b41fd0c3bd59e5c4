"""Budgets set through the admin API (X-Token-Secret), the `budgets` command and the Django
admin: the same rules everywhere, and each shows what a budget has spent this period."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.budgets import reserve
from accounts.models import Budget

pytestmark = pytest.mark.django_db
ALICE_DAY = {"scope": "soeid", "subject": "alice", "period": "day", "token_limit": 1000}


def set_over_api(client, headers, **body):
    return client.post("/api/budgets", body, format="json", **headers)


def test_set_creates_then_changes_and_lists_with_spend(client, secret_headers):
    created = set_over_api(client, secret_headers, **ALICE_DAY, cost_limit=2.5)
    assert created.status_code == 201
    changed = set_over_api(client, secret_headers, **ALICE_DAY, cost_limit=None)
    assert changed.status_code == 200 and changed.json()["id"] == created.json()["id"]
    reserve(soeid="alice", project="p", tokens=300, nanos=0)
    (row,) = client.get("/api/budgets", **secret_headers).json()
    assert row["token_limit"] == 1000 and row["cost_limit"] is None
    assert (row["spent_tokens"], row["spent_cost"]) == (300, 0.0)
    assert row["window_end"].endswith("T00:00:00.000Z")


def test_a_default_budget_has_no_single_spend(client, secret_headers):
    body = {"scope": "default_soeid", "period": "week", "cost_limit": 10}
    assert set_over_api(client, secret_headers, **body).status_code == 201
    (row,) = client.get("/api/budgets", **secret_headers).json()
    assert (row["subject"], row["spent_tokens"], row["cost_limit"]) == ("", None, 10.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ALICE_DAY, "token_limit": None}, "non_field_errors"),
        ({**ALICE_DAY, "subject": "not valid"}, "subject"),
        ({**ALICE_DAY, "scope": "project", "subject": ""}, "subject"),
        ({**ALICE_DAY, "scope": "default_soeid"}, "subject"),
        ({**ALICE_DAY, "period": "year"}, "period"),
        ({**ALICE_DAY, "cost_limit": "5"}, "cost_limit"),  # a JSON number, not text
        ({**ALICE_DAY, "cost_limit": -1}, "cost_limit"),
        ({**ALICE_DAY, "cost_limit": 10**8}, "cost_limit"),
        ({**ALICE_DAY, "token_limit": -5}, "token_limit"),
    ],
)
def test_bad_budgets_are_a_400_naming_the_field(client, secret_headers, body, field):
    response = set_over_api(client, secret_headers, **body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Budget.objects.exists()


def test_a_cost_limit_is_kept_to_the_micro_dollar(client, secret_headers):
    response = set_over_api(client, secret_headers, **{**ALICE_DAY, "cost_limit": 0.1234569})
    assert response.json()["cost_limit"] == 0.123456  # rounded down: never above what was asked
    largest = set_over_api(client, secret_headers, **{**ALICE_DAY, "cost_limit": 99999999.9999999})
    assert largest.json()["cost_limit"] == 99999999.999999


def test_remove(client, secret_headers):
    budget_id = set_over_api(client, secret_headers, **ALICE_DAY).json()["id"]
    assert client.delete(f"/api/budgets/{budget_id}", **secret_headers).status_code == 204
    assert client.delete(f"/api/budgets/{budget_id}", **secret_headers).status_code == 404
    assert client.delete(f"/api/budgets/{2**70}", **secret_headers).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"HTTP_X_TOKEN_SECRET": "wrong"}])
def test_budgets_need_the_token_secret(client, headers):
    assert client.get("/api/budgets", **headers).status_code == 403
    assert set_over_api(client, headers, **ALICE_DAY).status_code == 403
    assert client.delete("/api/budgets/1", **headers).status_code == 403


# --- The command ----------------------------------------------------------------------------


def budgets(*args) -> str:
    out = io.StringIO()
    call_command("budgets", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_the_command_sets_lists_and_removes():
    assert budgets("set", "--soeid", "bob", "--period", "month", "--cost", "25.50").startswith(
        "created budget id="
    )
    budgets("set", "--project", "p1", "--period", "day", "--tokens", "5000")
    budgets("set", "--default", "--period", "week", "--tokens", "100", "--cost", "1")
    rows = json.loads(budgets("list", "--format", "json"))
    assert {(r["scope"], r["subject"], r["period"]) for r in rows} == {
        ("soeid", "bob", "month"),
        ("project", "p1", "day"),
        ("default_soeid", "", "week"),
    }
    assert Budget.objects.get(subject="bob").cost_limit == Decimal("25.50")
    table = budgets("list").splitlines()
    assert table[0].split()[:4] == ["id", "scope", "subject", "period"] and len(table) == 5
    budget_id = Budget.objects.get(subject="p1").pk
    assert budgets("remove", str(budget_id)) == f"removed budget id={budget_id}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "--soeid", "a b", "--period", "day", "--tokens", "1"], "subject: Invalid SOEID"),
        (["set", "--soeid", "bob", "--period", "day"], "Give a token_limit, a cost_limit"),
        (["remove", "999"], "No budget with id 999"),
    ],
)
def test_the_command_applies_the_apis_rules(args, message):
    with pytest.raises(CommandError, match=message):
        budgets(*args)


def test_a_bad_amount_is_an_argument_error():
    with pytest.raises(CommandError, match="not an amount of USD"):
        budgets("set", "--soeid", "bob", "--period", "day", "--cost", "lots")


# --- The Django admin -----------------------------------------------------------------------


def test_the_admin_sets_a_budget_and_shows_its_spend(staff):
    form = {"scope": "project", "subject": "p9", "period": "month", "cost_limit": "12.5"}
    assert staff.post("/admin/accounts/budget/add/", form).status_code == 302
    reserve(soeid="x", project="p9", tokens=10, nanos=1_500_000_000)
    page = staff.get("/admin/accounts/budget/").content.decode()
    assert "10 tokens, 1.5 USD" in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"scope": "soeid", "subject": "a b", "period": "day", "token_limit": "1"},
            "Invalid SOEID",
        ),
        ({"scope": "soeid", "subject": "ann", "period": "day"}, "Give a token limit, a cost"),
        ({"scope": "default_soeid", "subject": "x", "period": "day", "token_limit": "1"}, "empty"),
    ],
)
def test_the_admin_refuses_a_bad_budget(staff, form, message):
    page = staff.post("/admin/accounts/budget/add/", form).content.decode()
    assert message in page
    assert not Budget.objects.exists()
