import io

import pytest
from django.core.management import CommandError, call_command

from accounts.errors import InvalidToken
from accounts.services import verify_token

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_issue_then_revoke_by_jti():
    token = run("issue_token", "dave", "--project-id", "p9", "--expires-in", "600")
    claims = verify_token(token)
    assert (claims["soeid"], claims["project_id"]) == ("dave", "p9")
    assert run("revoke_token", "--jti", claims["jti"]) == f"revoked jti={claims['jti']}"
    with pytest.raises(InvalidToken):
        verify_token(token)


def test_revoke_by_token():
    token = run("issue_token", "erin")
    run("revoke_token", "--token", token, "--reason", "left the company")
    with pytest.raises(InvalidToken):
        verify_token(token)


def test_issue_refuses_an_invalid_soeid():
    with pytest.raises(CommandError, match="Invalid SOEID"):
        run("issue_token", "not valid")
