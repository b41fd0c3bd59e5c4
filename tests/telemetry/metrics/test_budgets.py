"""Budget gauges, read from the database and the ledger when Prometheus scrapes."""

from decimal import Decimal

import pytest

from accounts import budgets
from accounts.services import set_budget
from tests.samples import label_sets, total
from tests.telemetry.metrics.conftest import scrape

pytestmark = pytest.mark.django_db


@pytest.fixture
def spent():
    """alice's day budget (tokens), project billing's month budget (USD), a default day
    budget (not alice's: she has her own); one call of 1,200 tokens / 0.5 USD charged to
    alice and billing."""
    alice, _ = set_budget(scope="soeid", subject="alice", period="day", token_limit=5000)
    billing, _ = set_budget(scope="project", subject="billing", period="month", cost_limit=20)
    default, _ = set_budget(scope="default_soeid", subject="", period="day", token_limit=900)
    held = budgets.reserve(soeid="alice", project="billing", tokens=2000, nanos=10**9)
    held.settle(tokens=1200, nanos=5 * 10**8)
    return alice, billing, default


def test_each_budget_has_its_limits_and_its_spend_this_period(client, scraper, spent):
    alice, billing, default = spent
    samples = scrape(client, scraper)
    alice_labels = {"budget_id": str(alice.pk), "scope": "soeid", "period": "day"}
    assert total(samples, "dgen_ping_budget_limit_tokens", **alice_labels) == 5000
    assert total(samples, "dgen_ping_budget_spent_tokens", **alice_labels) == 1200
    billing_labels = {"budget_id": str(billing.pk), "subject": "billing", "period": "month"}
    assert total(samples, "dgen_ping_budget_limit_usd", **billing_labels) == 20
    assert total(samples, "dgen_ping_budget_spent_usd", **billing_labels) == float(Decimal("0.5"))
    assert total(samples, "dgen_ping_budget_spent_tokens", **billing_labels) == 1200
    default_labels = {"budget_id": str(default.pk), "scope": "default_soeid"}
    assert total(samples, "dgen_ping_budget_limit_tokens", **default_labels) == 900
    # Counted on each SOEID's own counter: no spend of its own.
    assert not label_sets(
        [s for s in samples if s.labels.get("scope") == "default_soeid"],
        "dgen_ping_budget_spent_tokens",
    )


def test_a_soeid_is_a_label_only_when_asked_for(client, scraper, spent, settings):
    def subjects() -> set[str]:
        samples = scrape(client, scraper)
        return {s.labels["subject"] for s in samples if s.name.startswith("dgen_ping_budget_")}

    assert subjects() == {"", "billing"}
    settings.METRICS = {**settings.METRICS, "SOEID_LABEL": True}
    assert subjects() == {"", "alice", "billing"}


def test_a_budget_a_call_exceeds_shows_it(client, scraper, spent):
    alice, _, _ = spent
    with pytest.raises(budgets.BudgetExceeded):
        budgets.reserve(soeid="alice", project="billing", tokens=4000, nanos=0)
    samples = scrape(client, scraper)
    labels = {"budget_id": str(alice.pk)}
    spent_now = total(samples, "dgen_ping_budget_spent_tokens", **labels)
    assert spent_now == 1200  # refused: nothing held
    assert spent_now + 4000 > total(samples, "dgen_ping_budget_limit_tokens", **labels)


def test_an_unreachable_ledger_leaves_the_budgets_out_not_the_scrape(
    client, scraper, spent, settings
):
    dead_redis = {"url": "redis://127.0.0.1:9/0", "timeout": 0.5}  # the discard port
    ledger = {"BACKEND": "accounts.ledger.redis.RedisLedger", "OPTIONS": dead_redis}
    settings.BUDGETS = {**settings.BUDGETS, "LEDGER": ledger}
    samples = scrape(client, scraper)  # 200
    assert not [s for s in samples if s.name.startswith("dgen_ping_budget_")]
    assert [s for s in samples if s.name == "dgen_ping_telemetry_backlog_events"]
