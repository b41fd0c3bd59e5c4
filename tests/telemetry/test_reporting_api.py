"""GET /api/telemetry/events, /usage (administrators) and /usage/me (a user's own)."""

import pytest
from django.contrib.auth.models import User

from accounts.tokens import issue_token
from tests.telemetry.conftest import REPORT_MONGO, use_store

pytestmark = pytest.mark.django_db

EVENTS, USAGE, MINE = "/api/telemetry/events", "/api/telemetry/usage", "/api/telemetry/usage/me"


def as_admin(client, secret_headers, path, **params):
    return client.get(path, params, **secret_headers)


@pytest.mark.parametrize("path", [EVENTS, USAGE])
def test_admin_endpoints_refuse_anonymous_with_401(client, report_store, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"]


@pytest.mark.parametrize("path", [EVENTS, USAGE])
def test_admin_endpoints_refuse_user_tokens_with_403(client, report_store, user_token, path):
    response = client.get(path, HTTP_X_API_TOKEN=user_token)
    assert response.status_code == 403
    assert response.json()["code"] == "admin_required"


def test_a_wrong_secret_is_refused(client, report_store):
    response = client.get(USAGE, HTTP_X_TOKEN_SECRET="guess")
    assert (response.status_code, response.json()["code"]) == (403, "invalid_token_secret")


def test_staff_sessions_are_admitted_and_other_sessions_are_not(client, reported):
    client.force_login(User.objects.create(username="admin", is_staff=True))
    assert client.get(USAGE).status_code == 200
    client.force_login(User.objects.create(username="clerk"))
    assert client.get(USAGE).status_code == 403


def test_events_come_newest_first_in_pages_that_chain(client, secret_headers, reported):
    seen, response = [], as_admin(client, secret_headers, EVENTS, page_size=4)
    while True:
        body = response.json()
        seen += [event["event_id"] for event in body["results"]]
        if body["next"] is None:
            break
        assert body["next_cursor"] in body["next"] and "page_size=4" in body["next"]
        response = client.get(body["next"], **secret_headers)
    assert seen == [event["event_id"] for event in reversed(reported)]


def test_events_carry_every_field(client, secret_headers, reported):
    (event,) = as_admin(client, secret_headers, EVENTS, soeid="carol").json()["results"]
    assert event == reported[5]


def test_event_filters_since_inclusive_until_exclusive(client, secret_headers, reported):
    # at(2, 9) .. at(3, 0): the bound events are exactly at both ends.
    params = {"since": "2025-01-02T09:00:00Z", "until": "2025-01-03T00:00:00Z"}
    results = as_admin(client, secret_headers, EVENTS, **params).json()["results"]
    assert [e["event_id"] for e in results] == [reported[3]["event_id"], reported[2]["event_id"]]
    results = as_admin(client, secret_headers, EVENTS, project="p1", model="gpt").json()["results"]
    assert [e["soeid"] for e in results] == ["bob"]


def test_usage_groups_as_the_stats_command_does(client, secret_headers, reported):
    body = as_admin(client, secret_headers, USAGE, group_by="soeid", since="2025-01-01").json()
    assert body["group_by"] == ["soeid"]
    assert body["filters"]["since"] == "2025-01-01T00:00:00.000Z"
    assert [(r["soeid"], r["requests"], r["errors"], r["total_tokens"], r["p95_latency_ms"])
            for r in body["rows"]] == [("alice", 3, 1, 43, 300.0), ("bob", 2, 1, 300, 400.0),
                                       ("carol", 1, 0, 0, None)]  # fmt: skip


def test_usage_and_cost_per_token(client, secret_headers, reported):
    body = as_admin(client, secret_headers, USAGE, group_by="soeid,token").json()
    assert [(r["soeid"], r["token"], r["cost"]) for r in body["rows"]] == [
        ("alice", None, 0.0),
        ("alice", "jti-a", 0.375),
        ("bob", None, 0.0),
        ("bob", "jti-b", 1.5),
        ("carol", None, 0.0),
    ]


def test_my_usage_shows_only_the_callers_own(client, reported):
    token = issue_token(soeid="bob").token
    body = client.get(MINE, {"group_by": "soeid,model", "soeid": "alice"}, HTTP_X_API_TOKEN=token)
    rows = body.json()["rows"]
    assert [(r["soeid"], r["model"], r["requests"]) for r in rows] == [
        ("bob", "gemini", 1),
        ("bob", "gpt", 1),
    ]
    assert body.json()["filters"]["soeid"] == "bob"


def test_my_usage_needs_a_token(client, report_store):
    assert client.get(MINE).status_code == 401


@pytest.mark.parametrize(
    "path, params, field",
    [
        (EVENTS, {"since": "last week"}, "since"),
        (EVENTS, {"since": "123456d"}, "since"),  # ages have 5 digits at most
        (EVENTS, {"page_size": 1001}, "page_size"),
        (EVENTS, {"page_size": "many"}, "page_size"),
        (EVENTS, {"cursor": "not-a-cursor"}, "cursor"),
        (EVENTS, {"soeid": "not a soeid"}, "soeid"),
        (USAGE, {"group_by": "soeid,colour"}, "group_by"),
        (USAGE, {"group_by": "soeid, model"}, "group_by"),
        (USAGE, {"group_by": "soeid,"}, "group_by"),
        (USAGE, {"until": "2025-13-01"}, "until"),
        (USAGE, {"until": ""}, "until"),
        (EVENTS, {"project": ""}, "project"),
    ],
)
def test_bad_filters_are_400_naming_the_field(
    client, secret_headers, report_store, path, params, field
):
    response = client.get(path, params, **secret_headers)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["fields"]) == [field]


def test_an_empty_time_range_selects_nothing(client, secret_headers, report_store):
    # Not an error: the schema cannot compare two parameters, so it could not say so.
    params = {"since": "2025-01-02", "until": "2025-01-01"}
    response = client.get(EVENTS, params, **secret_headers)
    assert (response.status_code, response.json()["results"]) == (200, [])


def test_an_unreachable_store_is_503(client, secret_headers, settings, tmp_path, flaky_mongo):
    use_store(settings, tmp_path, "mongo")
    flaky_mongo.down(REPORT_MONGO)
    for path in (EVENTS, USAGE):
        response = client.get(path, **secret_headers)
        assert (response.status_code, response.json()["code"]) == (503, "store_unavailable")
        assert "refused" not in response.json()["detail"]


def test_the_schema_documents_the_reports_and_their_filters(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (EVENTS, USAGE, MINE):
        names = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert {"since", "until", "project", "model", "event_type"} <= names
    assert {"soeid", "cursor", "page_size"} <= {
        p["name"] for p in schema["paths"][EVENTS]["get"]["parameters"]
    }
    assert "soeid" not in {p["name"] for p in schema["paths"][MINE]["get"]["parameters"]}
    assert schema["paths"][USAGE]["get"]["security"] == [{"TokenSecret": []}, {"cookieAuth": []}]
