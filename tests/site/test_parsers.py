"""JSON bodies a store or a client library could not take are refused at the edge, on every
JSON endpoint, with a 400 naming the field (dgen_ping_site.parsers)."""

import pytest

from dgen_ping_site.parsers import MAX_DEPTH, field_name, load

pytestmark = pytest.mark.django_db

# Every endpoint that takes a JSON body, with the credentials it needs.
PROJECT_ERRORS = [
    "/generate-token",
    "/verify-token",
    "/telemetry",
    "/api/llm/completion",
    "/api/llm/chat",
]
OPENAI_ERRORS = ["/v1/chat/completions"]
HI = [{"role": "user", "content": "Hi"}]
DEEP = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
# (raw body, the field the 400 names, words of its message)
REFUSED = {
    "lone surrogate in a value": ('{"prompt": "a\\ud800"}', "prompt", "lone surrogate"),
    "lone low surrogate in a value": ('{"x": ["ok", "\\udc00b"]}', "x.1", "lone surrogate"),
    "lone surrogate in a key": ('{"a\\ud800": 1}', "a\\ud800", "lone surrogate"),
    "NUL in a key": ('{"metadata": {"a\\u0000b": 1}}', "metadata.a\\u0000b", "NUL"),
    "integer just past 64 bits": ('{"max_tokens": 9223372036854775808}', "max_tokens", "64 bits"),
    "integer past 64 bits, unsigned": ('{"n": 18446744073709551615}', "n", "64 bits"),
    "integer far past 64 bits": (
        '{"request_size": 100000000000000000000000}',
        "request_size",
        "64 bits",
    ),
    "integer far below 64 bits": ('{"a": [-100000000000000000000000]}', "a.0", "64 bits"),
    "the lowest integer of 64 bits": ('{"n": -9223372036854775808}', "n", "64 bits"),
    "float past 64 bits": ('{"temperature": 1e19}', "temperature", "64 bits"),
    "nesting past the limit": (f'{{"d": {DEEP}}}', "d" + ".0" * (MAX_DEPTH - 1), "Nested deeper"),
}


@pytest.fixture
def headers(user_token, secret_headers) -> dict:
    return {
        "HTTP_X_API_TOKEN": user_token,
        "HTTP_AUTHORIZATION": f"Bearer {user_token}",
        **secret_headers,
    }


def refused_fields(response) -> dict:
    body = response.json()
    if "error" in body:  # OpenAI's shape on /v1
        return {body["error"]["param"]: [body["error"]["message"]]}
    assert body["code"] == "invalid"
    return body["fields"]


@pytest.mark.parametrize("path", PROJECT_ERRORS + OPENAI_ERRORS)
@pytest.mark.parametrize("case", REFUSED)
def test_a_body_no_store_could_take_is_a_400_naming_the_field(client, headers, path, case):
    body, field, words = REFUSED[case]
    response = client.post(path, body, content_type="application/json", **headers)
    assert response.status_code == 400, response.content
    fields = refused_fields(response)
    assert list(fields) == [field]
    assert words.lower() in str(fields[field]).lower()


@pytest.mark.parametrize("path", PROJECT_ERRORS + OPENAI_ERRORS)
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"prompt": "\xff"}', "UTF-8"),
        (b'{"prompt": "\xed\xa0\x80"}', "UTF-8"),  # a surrogate encoded as UTF-8 bytes
        ("[" * 2000 + "]" * 2000, "depth"),
        ('{"a": 1e400}', "infinity"),
        ('{"a": NaN}', "JSON parse error"),
    ],
)
def test_a_body_that_is_not_json_in_utf8_is_a_400(client, headers, path, body, words):
    response = client.post(path, body, content_type="application/json", **headers)
    assert response.status_code == 400
    assert words in response.content.decode()


def test_what_no_store_is_refused_for_is_kept_as_sent():
    body = b'{"pair": "\\ud83d\\ude00", "nul": "a\\u0000b", "x": -9223372036854775807, "f": 1e18}'
    assert load(body) == {"pair": "\U0001f600", "nul": "a\x00b", "x": -(2**63) + 1, "f": 1e18}
    deepest = []
    for _ in range(MAX_DEPTH - 1):
        deepest = [deepest]
    assert load(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) == deepest


def test_field_names_are_printable():
    assert field_name([]) == "body"
    assert field_name(["messages", 0, "content"]) == "messages.0.content"
    assert field_name(["a\x00b", "\ud800"]) == "a\\u0000b.\\ud800"


def test_the_refusal_is_the_events_error_as_readable_text(client, secret_headers, recorded):
    body = '{"soeid": "a\\ud800"}'
    client.post("/generate-token", body, content_type="application/json", **secret_headers)
    error = recorded.one()["error"]
    assert error.startswith("invalid: soeid: A lone surrogate"), error
    assert "ErrorDetail" not in error and "{" not in error


def test_integral_numbers_are_read_as_integers_as_json_schema_reads_them():
    loaded = load(b'{"max_tokens": 15.0, "t": 0.5, "n": [2.0, {"k": -3.0}], "big": 1e18}')
    assert loaded == {"max_tokens": 15, "t": 0.5, "n": [2, {"k": -3}], "big": 10**18}
    assert {type(v) for v in (loaded["max_tokens"], loaded["n"][1]["k"], loaded["big"])} == {int}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/llm/completion", {"prompt": "Hi", "max_tokens": 10.0}),
        ("/v1/chat/completions", {"model": "gemini", "messages": HI, "max_tokens": 10.0, "n": 1.0}),
    ],
)
def test_an_integral_number_is_an_integer_on_every_api(client, headers, path, body):
    response = client.post(path, body, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
