"""Operations with side effects or database reads: tokens (issuing, recorded in the token
registry; verification; revocation) and budgets (setting, removing)."""

from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections, router
from django.dispatch import receiver
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts import tokens
from accounts.errors import InvalidToken, UnknownBudget, UnknownToken
from accounts.identity import GatewayIdentity
from accounts.models import Budget, TokenRecord
from accounts.revocation import RevocationCache
from accounts.tokens import IssuedToken, decode_token
from accounts.verified import VerifiedTokens
from dgen_ping_site.clock import iso_utc, utcnow

DEFAULT_TOKEN = "1"
# TokenRecord's table (accounts.models): a primary-key probe.
REVOKED_QUERY = "SELECT 1 FROM accounts_tokenrecord WHERE jti = %s AND revoked_at IS NOT NULL"
# Who issued a token the registry learns about only when it is revoked by value.
BEFORE_REGISTRY = "unknown (issued before the registry)"


def issue_token(
    *,
    soeid: str,
    issued_by: str,
    project_id: str = "",
    expires_in: int | None = None,
    name: str = "",
) -> IssuedToken:
    """Sign a token and record it in the registry (never the token itself).

    Every way of issuing one (the API, `issue_token`, the admin) comes through here.
    `issued_by` says who: "api:<client ip>", "command:<os user>", "admin:<username>".
    """
    issued = tokens.issue_token(soeid=soeid, project_id=project_id, expires_in=expires_in)
    TokenRecord.objects.create(
        jti=issued.jti,
        soeid=soeid,
        project_id=project_id,
        name=name,
        issued_at=issued.issued_at,
        expires_at=issued.expires_at,
        issued_by=issued_by,
    )
    return issued


def registry_says_revoked(jti: str) -> bool:
    """Whether the token registry holds `jti` as revoked (one query).

    Written out: a primary-key probe on the thread's persistent connection takes ~20 µs,
    where the ORM spends ~0.12 ms building the same query.
    """
    with connections[router.db_for_read(TokenRecord)].cursor() as cursor:
        cursor.execute(REVOKED_QUERY, [jti])
        return cursor.fetchone() is not None


# Asked of the registry at most every 2 s per token and process (accounts.revocation): a
# revocation holds at once in the process that made it, within 2 s in every other.
revocations = RevocationCache(registry_says_revoked)


def is_revoked(jti: str) -> bool:
    """Whether `jti` is revoked, as the registry said at most RECHECK_SECONDS ago."""
    return revocations.is_revoked(jti)


# Signature and claims verified once per token and process, until the token expires
# (accounts.verified); revocation is still asked of `revocations` on every call below.
verified = VerifiedTokens(decode_token)


@receiver(setting_changed)
def _forget_verified_tokens(*, setting: str, **kwargs) -> None:
    if setting == "SIMPLE_JWT":
        verified.clear()


def verify_token(raw: str) -> dict:
    """Claims of a valid, unexpired, unrevoked token; InvalidToken otherwise."""
    claims = verified.claims(raw)
    if is_revoked(claims["jti"]):
        raise InvalidToken("Token has been revoked.")
    return claims


def identity_for_token(raw: str | None) -> GatewayIdentity | None:
    """The caller behind a raw token; None when there is no token and no default applies."""
    if settings.ALLOW_DEFAULT_TOKEN and raw in (None, "", DEFAULT_TOKEN):
        return GatewayIdentity(soeid=settings.DEFAULT_SOEID, is_default=True)
    if not raw:
        return None
    claims = verify_token(raw)
    return GatewayIdentity(
        soeid=claims["soeid"], project_id=claims.get("project_id") or "", jti=claims["jti"]
    )


def revoke_token(*, raw: str = "", jti: str = "", reason: str = "") -> tuple[TokenRecord, bool]:
    """Revoke by the token itself (signature must be valid) or by its `jti`.

    Returns the registry row and whether this call revoked it (False: it already was).
    A jti the registry does not know is UnknownToken; a token issued before the registry
    existed can still be revoked by value, which records it.
    """
    if raw:
        record = _record_of(decode_token(raw))
    elif jti:
        record = TokenRecord.objects.filter(pk=jti).first()
        if record is None:
            raise UnknownToken(f"No token with jti {jti!r} in the registry.")
    else:
        raise ValueError("Give a token or a jti to revoke.")
    revoked_now = revoke_tokens([record.jti], reason=reason) == 1
    record.refresh_from_db()
    return record, revoked_now


def revoke_tokens(jtis: Iterable[str], *, reason: str = "") -> int:
    """Revoke these tokens at once (those not revoked yet); how many were revoked now.

    One conditional UPDATE: two administrators revoking the same token cannot both think
    they did, and the first reason and time stay.
    """
    jtis = list(jtis)
    pending = TokenRecord.objects.filter(pk__in=jtis, revoked_at__isnull=True)
    count = pending.update(revoked_at=utcnow(), revoked_reason=reason[:200])
    revocations.revoked(jtis)
    return count


def _record_of(claims: dict) -> TokenRecord:
    record, _ = TokenRecord.objects.get_or_create(
        jti=claims["jti"],
        defaults={
            "soeid": claims["soeid"],
            "project_id": claims.get("project_id") or "",
            "issued_at": datetime_from_epoch(claims["iat"]),
            "expires_at": datetime_from_epoch(claims["exp"]),
            "issued_by": BEFORE_REGISTRY,
        },
    )
    return record


def describe_token(raw: str) -> dict:
    """What /verify-token reports about a token; raises InvalidToken when it is not usable."""
    if settings.ALLOW_DEFAULT_TOKEN and raw == DEFAULT_TOKEN:
        return {"soeid": settings.DEFAULT_SOEID, "project_id": "", "default_token": True}
    claims = verify_token(raw)
    return {
        "soeid": claims["soeid"],
        "project_id": claims.get("project_id") or "",
        "jti": claims["jti"],
        "issued_at": iso_utc(datetime_from_epoch(claims["iat"])),
        "expires_at": iso_utc(datetime_from_epoch(claims["exp"])),
    }


# --- Budgets ----------------------------------------------------------------------------------


def set_budget(
    *,
    scope: str,
    subject: str,
    period: str,
    token_limit: int | None = None,
    cost_limit: Decimal | None = None,
) -> tuple[Budget, bool]:
    """Create the budget of (scope, subject, period) or change its limits; (budget, created).

    Limits apply from the next call on, to what was already spent in the current period.
    """
    if token_limit is None and cost_limit is None:
        raise ValueError("A budget needs a token limit, a cost limit or both.")
    return Budget.objects.update_or_create(
        scope=scope,
        subject="" if scope == Budget.Scope.DEFAULT_SOEID else subject,
        period=period,
        defaults={"token_limit": token_limit, "cost_limit": cost_limit},
    )


def remove_budget(budget_id: int) -> None:
    """Delete a budget; what was spent stays counted should it be set again this period."""
    # Ids past 64 bits exist nowhere, and some databases refuse to even compare them.
    in_range = 0 < budget_id < 2**63
    deleted, _ = Budget.objects.filter(pk=budget_id).delete() if in_range else (0, None)
    if not deleted:
        raise UnknownBudget(f"No budget with id {budget_id}.")
