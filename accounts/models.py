from django.core.exceptions import ValidationError
from django.db import models

from accounts.tokens import SOEID_RULE, is_valid_soeid


class TokenRecord(models.Model):
    """An issued gateway JWT as the registry knows it: who, which project, until when, who
    issued it, whether it is revoked. Never the token itself, which is shown once, at issue.

    Revocation is a row with `revoked_at` set: the one row an authenticated request reads,
    by primary key, at most every 2 s per token and process (accounts.revocation). A token
    issued before the registry existed has no row until it is revoked by value
    (`revoke_token --token`).
    """

    jti = models.CharField("token id (jti)", max_length=64, primary_key=True)
    soeid = models.CharField("SOEID", max_length=64, db_index=True)
    project_id = models.CharField("project", max_length=128, blank=True)
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    # Null only for revocations carried over from before the registry.
    issued_at = models.DateTimeField(null=True, db_index=True)
    expires_at = models.DateTimeField(null=True)
    issued_by = models.CharField(
        max_length=150, blank=True, help_text="api, command:<user> or admin:<user>."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "issued token"
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"{self.jti} ({self.soeid})"


class Budget(models.Model):
    """A limit on what a SOEID or a project may spend per UTC calendar period.

    `default_soeid` applies to every SOEID that has no budget of its own for that period.
    Either limit may be empty (not limited), not both.
    """

    class Scope(models.TextChoices):
        SOEID = "soeid", "one SOEID"
        PROJECT = "project", "one project"
        DEFAULT_SOEID = "default_soeid", "every SOEID without its own"

    class Period(models.TextChoices):
        DAY = "day"
        WEEK = "week"
        MONTH = "month"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    subject = models.CharField(
        max_length=128, blank=True, help_text="The SOEID or project; empty for default_soeid."
    )
    period = models.CharField(max_length=8, choices=Period.choices)
    token_limit = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Tokens (prompt + completion) per period."
    )
    cost_limit = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="USD per period."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "subject", "period"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "subject", "period"],
                name="one_budget_each",
                violation_error_message="There is a budget for this scope, subject and period.",
            ),
            models.CheckConstraint(
                condition=models.Q(token_limit__isnull=False) | models.Q(cost_limit__isnull=False),
                name="budget_has_a_limit",
                violation_error_message="Give a token limit, a cost limit or both.",
            ),
            models.CheckConstraint(
                condition=models.Q(cost_limit__isnull=True) | models.Q(cost_limit__gte=0),
                name="budget_cost_not_negative",
                violation_error_message="The cost limit cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        if self.scope == self.Scope.DEFAULT_SOEID:
            return f"default {self.period} budget per SOEID"
        return f"{self.period} budget of {self.scope} {self.subject}"

    def clean(self) -> None:
        problem = subject_problem(self.scope, self.subject)
        if problem:
            raise ValidationError({"subject": problem})


def subject_problem(scope: str, subject: str) -> str | None:
    """What is wrong with a budget's subject for its scope, if anything."""
    if scope == Budget.Scope.DEFAULT_SOEID:
        return "Must be empty: the default budget applies to every SOEID." if subject else None
    if not subject:
        return f"Name the {scope.replace('_', ' ')} the budget is for."
    if scope == Budget.Scope.SOEID and not is_valid_soeid(subject):
        return f"Invalid SOEID: must be {SOEID_RULE}."
    return None


class SpendCounter(models.Model):
    """What one SOEID or project has spent (settled, or reserved by calls in flight) in one
    period window: the database ledger's counters (accounts.ledger.database)."""

    name = models.CharField(max_length=255, primary_key=True)  # "day:2025-01-31:soeid:alice"
    tokens = models.BigIntegerField(default=0)
    nanos = models.BigIntegerField(default=0, help_text="USD × 10⁹.")
    # Rows whose window has ended are pruned.
    window_end = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.name
