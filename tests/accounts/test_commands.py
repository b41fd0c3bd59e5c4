"""issue_token, revoke_token and list_tokens: the API's rules, the registry, clear outcomes."""

import io
import json
import os
import pty
import select
import subprocess
import sys

import pytest
from django.core.management import (
    BaseCommand,
    CommandError,
    call_command,
    get_commands,
    load_command_class,
)

from accounts.errors import InvalidToken
from accounts.models import TokenRecord
from accounts.services import verify_token
from tests.telemetry import servers

pytestmark = pytest.mark.django_db
ACCOUNTS_COMMANDS = ("issue_token", "revoke_token", "list_tokens")


def run(*args) -> list[str]:
    """The command's stdout lines; its stderr must stay empty on success."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue().strip().splitlines()


def issue(*args) -> str:
    return run("issue_token", *args)[0]


def test_issue_prints_the_token_then_its_jti_and_records_it():
    token, details = run("issue_token", "dave", "--project-id", "p9", "--expires-in", "600")
    claims = verify_token(token)
    assert (claims["soeid"], claims["project_id"]) == ("dave", "p9")
    assert details.startswith(f"jti={claims['jti']} expires_at=")
    record = TokenRecord.objects.get(pk=claims["jti"])
    assert (record.soeid, record.project_id, record.revoked_at) == ("dave", "p9", None)
    assert record.issued_by.startswith("command:")
    assert token not in str(TokenRecord.objects.values())  # never the token itself


def test_issue_then_revoke_by_jti():
    jti = verify_token(issue("dave"))["jti"]
    assert run("revoke_token", "--jti", jti) == [f"revoked jti={jti}"]
    assert TokenRecord.objects.get(pk=jti).revoked_at is not None


def test_revoke_by_token():
    token = issue("erin")
    run("revoke_token", "--token", token, "--reason", "left the company")
    with pytest.raises(InvalidToken):
        verify_token(token)
    assert TokenRecord.objects.get().revoked_reason == "left the company"


def test_revoking_twice_says_so_and_keeps_the_first_revocation():
    token = issue("frank")
    jti = verify_token(token)["jti"]
    run("revoke_token", "--jti", jti, "--reason", "first")
    (again,) = run("revoke_token", "--jti", jti, "--reason", "second")
    assert again.startswith(f"jti={jti} was already revoked at ")
    assert TokenRecord.objects.get(pk=jti).revoked_reason == "first"


def test_revoking_an_unknown_jti_is_an_error():
    with pytest.raises(CommandError, match="No token with jti 'nope' in the registry"):
        run("revoke_token", "--jti", "nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not valid"], "soeid: Invalid SOEID"),
        (["gina", "--expires-in", "0"], "expires_in: Ensure this value is greater than"),
        (["gina", "--expires-in", "31536001"], "expires_in: Ensure this value is less than"),
    ],
)
def test_issue_applies_the_apis_rules(args, message):
    with pytest.raises(CommandError, match=message):
        run("issue_token", *args)
    assert not TokenRecord.objects.exists()


def test_list_tokens_shows_the_registry_with_statuses():
    active, revoked = issue("hana", "--name", "laptop"), issue("hana")
    run("revoke_token", "--token", revoked)
    rows = json.loads("\n".join(run("list_tokens", "--soeid", "hana", "--format", "json")))
    by_jti = {row["jti"]: row for row in rows}
    assert by_jti[verify_token(active)["jti"]]["status"] == "active"
    assert by_jti[verify_token(active)["jti"]]["name"] == "laptop"
    assert {row["status"] for row in rows} == {"active", "revoked"}
    table = run("list_tokens", "--status", "revoked")
    assert table[0].split()[:2] == ["jti", "soeid"] and len(table) == 3
    assert run("list_tokens", "--soeid", "nobody") == ["No tokens match."]


@pytest.mark.parametrize("name", ACCOUNTS_COMMANDS)
def test_every_argument_has_help_text(name):
    parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
    django_own = {action.dest for action in BaseCommand().create_parser("manage.py", "x")._actions}
    own = [action for action in parser._actions if action.dest not in django_own]
    assert own and all(action.help for action in own), [a.dest for a in own if not a.help]


def test_success_goes_to_stdout_uncoloured_on_a_terminal(tmp_path):
    """Run for real on a pseudo-terminal: nothing on stderr, no ANSI colour codes."""
    env = servers.server_env(tmp_path, 0)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=servers.ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    leader, follower = pty.openpty()
    command = [sys.executable, "manage.py", "issue_token", "ivan"]
    result = subprocess.run(
        command, cwd=servers.ROOT, env=env, stdout=follower, stderr=subprocess.PIPE, check=True
    )
    output = _read_all(leader)
    assert result.stderr == b""
    assert b"\x1b[" not in output and b"jti=" in output


def _read_all(fd: int) -> bytes:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks)
