import argparse
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import BudgetUnavailable, UnknownBudget
from accounts.management.output import rows_text
from accounts.models import Budget
from accounts.selectors import budget_statuses
from accounts.serializers import BudgetInput, BudgetOutput
from accounts.services import remove_budget, set_budget
from dgen_ping_site.exceptions import fields_text

COLUMNS = ["id", "scope", "subject", "period", "token_limit", "cost_limit"]
COLUMNS += ["spent_tokens", "spent_cost", "window_end"]


def usd(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount of USD: {text!r}") from None


class Command(BaseCommand):
    help = (
        "Budgets per SOEID, per project, or by default per SOEID: tokens and/or USD per "
        "day, week or month (UTC). `budgets list`, `budgets set ...`, `budgets remove ID`."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="every budget and its spend this period")
        listing.add_argument("--format", choices=["table", "json"], default="table", help="output")
        setting = actions.add_parser("set", help="create a budget or change its limits")
        whom = setting.add_mutually_exclusive_group(required=True)
        whom.add_argument("--soeid", help="the budget of this SOEID")
        whom.add_argument("--project", help="the budget of this project")
        whom.add_argument(
            "--default",
            action="store_true",
            help="the budget of every SOEID without one of its own for the period",
        )
        setting.add_argument("--period", required=True, choices=Budget.Period.values, help="UTC")
        setting.add_argument("--tokens", type=int, help="tokens (prompt + completion) a period")
        setting.add_argument("--cost", type=usd, help="USD a period, e.g. 25.50")
        removing = actions.add_parser("remove", help="delete a budget")
        removing.add_argument("id", type=int, help="the budget's id, as `budgets list` shows")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except (UnknownBudget, BudgetUnavailable) as exc:
            raise CommandError(str(exc.detail)) from exc

    def _list(self, *, format, **options):
        rows = BudgetOutput(budget_statuses(Budget.objects.all()), many=True).data
        self.stdout.write(rows_text(rows, COLUMNS, format, none="No budgets."))

    def _set(self, *, soeid, project, default, period, tokens, cost, **options):
        scope = "default_soeid" if default else "soeid" if soeid is not None else "project"
        data = {"scope": scope, "subject": soeid or project or "", "period": period}
        data.update(token_limit=tokens, cost_limit=cost)
        params = BudgetInput(data=data)
        if not params.is_valid():
            raise CommandError(f"Cannot set the budget: {fields_text(params.errors)}")
        budget, created = set_budget(**params.validated_data)
        self.stdout.write(f"{'created' if created else 'changed'} budget id={budget.pk}: {budget}")

    def _remove(self, *, id, **options):
        remove_budget(id)
        self.stdout.write(f"removed budget id={id}")
