"""Gateway JWTs: issuing and decoding. Pure functions over simplejwt, no database.

Tokens are HS256 (pinned in settings.SIMPLE_JWT), carry `soeid`, `project_id`, `jti`, `iat`,
`exp` and `iss`, and are checked for all of them on decode. Issuing here only signs:
accounts.services.issue_token also records the token in the registry, and is what the API,
the `issue_token` command and the admin use.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.errors import InvalidToken

SOEID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
SOEID_RULE = "1-64 characters: letters, digits, '.', '_' or '-'"
# Far above any token we issue; refuses to spend CPU on decoding junk.
MAX_TOKEN_LENGTH = 4096


def is_valid_soeid(value: object) -> bool:
    return isinstance(value, str) and SOEID_PATTERN.fullmatch(value) is not None


class GatewayToken(Token):
    token_type = "access"
    lifetime = timedelta(seconds=settings.TOKEN_LIFETIME_SECONDS)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    soeid: str
    project_id: str
    jti: str
    issued_at: datetime
    expires_at: datetime


def issue_token(*, soeid: str, project_id: str = "", expires_in: int | None = None) -> IssuedToken:
    """Sign a token for `soeid`, valid `expires_in` seconds (default: the configured lifetime);
    not recorded in the registry (see the module docstring)."""
    token = GatewayToken()
    lifetime = timedelta(seconds=expires_in or settings.TOKEN_LIFETIME_SECONDS)
    token.set_exp(lifetime=lifetime)
    token.set_jti()
    token["soeid"] = soeid
    token["project_id"] = project_id
    return IssuedToken(
        token=str(token),
        soeid=soeid,
        project_id=project_id,
        jti=token["jti"],
        issued_at=datetime_from_epoch(token["iat"]),
        expires_at=datetime_from_epoch(token["exp"]),
    )


def decode_token(raw: str) -> dict:
    """Verify signature, algorithm, issuer and expiry; return the claims or raise InvalidToken."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    try:
        claims = GatewayToken(raw).payload
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    if not is_valid_soeid(claims.get("soeid")) or not isinstance(claims.get("iat"), int):
        raise InvalidToken("Token is missing required claims.")
    return claims
