"""Every error is JSON with a message a person can act on, and it is the `error` of the
request's telemetry event as readable text (dgen_ping_site.exceptions)."""

import pytest

from dgen_ping_site.exceptions import error_text, field_errors

pytestmark = pytest.mark.django_db


def test_nested_field_errors_are_flattened_to_paths():
    detail = {
        "messages": [{}, {"content": ["Required.", "Too short."]}],
        "metadata": {"status_code": ["Must be a JSON integer."]},
        "non_field_errors": ["Inconsistent."],
    }
    assert list(field_errors(detail)) == [
        ("messages.1.content", "Required."),
        ("messages.1.content", "Too short."),
        ("metadata.status_code", "Must be a JSON integer."),
        ("", "Inconsistent."),
    ]
    body = {"detail": "Invalid input.", "code": "invalid", "fields": detail}
    assert error_text(body) == (
        "invalid: messages.1.content: Required.; messages.1.content: Too short.; "
        "metadata.status_code: Must be a JSON integer.; Inconsistent."
    )


def big(settings) -> dict:
    return {"CONTENT_LENGTH": str(settings.MAX_REQUEST_BODY_BYTES + 1)}


# (method, path, body, content type, headers, status, the event's error)
CASES = {
    "unknown path": ("get", "/nope", None, None, {}, 404, "not_found: No endpoint at /nope."),
    "no token": ("post", "/telemetry", "{}", "application/json", {}, 401, "not_authenticated: "),
    "wrong secret": (
        "post",
        "/generate-token",
        "{}",
        "application/json",
        {"HTTP_X_TOKEN_SECRET": "guess"},
        403,
        "invalid_token_secret: A valid X-Token-Secret header is required.",
    ),
    "bad field": (
        "post",
        "/telemetry",
        '{"metadata": {"status_code": "x"}}',
        "application/json",
        "token",
        400,
        "invalid: metadata.status_code: Must be a JSON integer.",
    ),
    "form body": (
        "post",
        "/telemetry",
        "a=b",
        "application/x-www-form-urlencoded",
        "token",
        415,
        "unsupported_media_type: ",
    ),
    "unknown format": ("get", "/health?format=xml", None, None, {}, 404, "unknown_format: "),
}


@pytest.mark.parametrize("case", CASES)
def test_an_error_is_json_and_the_events_error_is_readable(client, recorded, user_token, case):
    method, path, body, content_type, headers, status, error = CASES[case]
    headers = {"HTTP_X_API_TOKEN": user_token} if headers == "token" else headers
    kwargs = {"content_type": content_type} if content_type else {}
    response = getattr(client, method)(path, body, **kwargs, **headers)
    assert response.status_code == status
    assert response.json()["detail"]
    if path.startswith("/health"):
        return  # /health is not recorded (EXCLUDED_PATHS)
    event = recorded.one()
    assert event["error"].startswith(error), event["error"]
    assert "ErrorDetail" not in event["error"]


def test_a_too_large_body_is_recorded_with_its_reason(client, recorded, settings):
    client.post("/telemetry", "{}", content_type="application/json", **big(settings))
    assert recorded.one()["error"].startswith("request_too_large: Request body is")


def test_an_unknown_format_says_which_exist(client):
    response = client.get("/health?format=xml")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "Unknown format 'xml': use one of api, json, or leave ?format= out.",
        "code": "unknown_format",
    }


def test_an_unsupported_media_type_says_to_send_json(client, user_token):
    response = client.post(
        "/telemetry", "a=b", content_type="text/plain", HTTP_X_API_TOKEN=user_token
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]
