"""The token registry in the Django admin: list, filter, revoke (bulk), issue."""

import re

import pytest

from accounts.models import TokenRecord
from accounts.services import issue_token, verify_token

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/accounts/tokenrecord/"


def test_the_changelist_lists_and_filters_by_status(staff):
    kept = issue_token(soeid="alice", name="laptop", issued_by="api:127.0.0.1")
    gone = issue_token(soeid="bob", issued_by="api:127.0.0.1")
    staff.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [gone.jti]})
    page = staff.get(CHANGELIST).content.decode()
    assert kept.jti in page and gone.jti in page and "laptop" in page
    revoked = staff.get(CHANGELIST, {"status": "revoked"}).content.decode()
    assert gone.jti in revoked and kept.jti not in revoked
    assert kept.token not in page


def test_bulk_revoke_revokes_every_selected_token_at_once(staff):
    issued = [issue_token(soeid=f"user{i}", issued_by="api:127.0.0.1") for i in range(3)]
    chosen = [token.jti for token in issued[:2]]
    response = staff.post(
        CHANGELIST, {"action": "revoke_selected", "_selected_action": chosen}, follow=True
    )
    assert "Revoked 2 token(s)." in response.content.decode()
    assert {r.pk for r in TokenRecord.objects.filter(revoked_at__isnull=False)} == set(chosen)
    verify_token(issued[2].token)  # the other one still works


def test_the_admin_issues_a_token_shown_once(staff):
    form = {"soeid": "carol", "project_id": "p7", "name": "notebook", "expires_in": "3600"}
    response = staff.post(CHANGELIST + "add/", form, follow=True)
    page = response.content.decode()
    token = re.search(r"shown only now: ([\w.-]+)", page).group(1)
    claims = verify_token(token)
    record = TokenRecord.objects.get(pk=claims["jti"])
    assert (record.soeid, record.project_id, record.name) == ("carol", "p7", "notebook")
    assert record.issued_by == "admin:root"
    assert (record.expires_at - record.issued_at).total_seconds() == 3600


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"soeid": "not valid"}, "Invalid SOEID"),
        ({"soeid": "dan", "expires_in": "0"}, "greater than or equal to 1"),
    ],
)
def test_the_admin_applies_the_apis_rules(staff, form, message):
    page = staff.post(CHANGELIST + "add/", form).content.decode()
    assert message in page
    assert not TokenRecord.objects.exists()


def test_a_registry_row_cannot_be_edited_or_deleted(staff):
    # Deleting a revoked token's row would make the token valid again.
    record = issue_token(soeid="erin", issued_by="api:127.0.0.1")
    assert staff.post(f"{CHANGELIST}{record.jti}/delete/", {"post": "yes"}).status_code == 403
    assert TokenRecord.objects.filter(pk=record.jti).exists()
    page = staff.get(f"{CHANGELIST}{record.jti}/change/").content.decode()
    assert 'name="soeid"' not in page  # shown, not editable
