"""Reads over the token registry and the budgets, as the admin API, commands and admin show them."""

from django.db.models import F, Q, QuerySet

from accounts.models import TokenRecord
from dgen_ping_site.clock import utcnow

TOKEN_STATUSES = ("active", "expired", "revoked")


def token_status(record: TokenRecord) -> str:
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= utcnow():
        return "expired"
    return "active"


def registered_tokens(
    *, soeid: str | None = None, project: str | None = None, status: str | None = None
) -> QuerySet[TokenRecord]:
    """Registry rows, newest first, filtered by SOEID, project and status (None: any)."""
    rows = TokenRecord.objects.all()
    if soeid is not None:
        rows = rows.filter(soeid=soeid)
    if project is not None:
        rows = rows.filter(project_id=project)
    if status is not None:
        rows = rows.filter(status_condition(status))
    return rows.order_by(F("issued_at").desc(nulls_last=True), "jti")


def status_condition(status: str) -> Q:
    """The rows in this state (one of TOKEN_STATUSES), as token_status tells them."""
    now = utcnow()
    if status == "revoked":
        return Q(revoked_at__isnull=False)
    if status == "expired":
        return Q(revoked_at__isnull=True, expires_at__lte=now)
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
