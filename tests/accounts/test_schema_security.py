import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.accounts.test_token_endpoints import generate


def test_user_token_headers_are_documented_as_alternatives():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiToken"] == {"type": "apiKey", "in": "header", "name": "X-API-Token"}
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    # A list of one-key objects means "either"; one object with two keys would mean "both".
    assert schema["paths"]["/telemetry"]["post"]["security"] == [
        {"ApiToken": []},
        {"BearerAuth": []},
    ]


def soeid_schema() -> dict:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema["components"]["schemas"]["GenerateTokenInputRequest"]["properties"]["soeid"]


@pytest.mark.django_db
@pytest.mark.parametrize("soeid", ["a.b_c-9", "x" * 64, " alice", "alice\n", "a b", "ü", ""])
def test_the_soeid_pattern_in_the_schema_is_exactly_what_is_accepted(client, secret_headers, soeid):
    # A client that trusts the schema is never refused, nor let through against it (the
    # fuzzer's "schema-valid request rejected" and "negative data accepted").
    field = soeid_schema()
    # JSON Schema patterns are ECMAScript's and unanchored; these anchors mean what they do
    # in Python but for "$" before a final newline, which re.fullmatch does not allow.
    valid = re.fullmatch(field["pattern"].strip("^$"), soeid) is not None
    valid = valid and len(soeid) <= field["maxLength"]
    response = generate(client, secret_headers, soeid=soeid)
    assert response.status_code == (200 if valid else 400), response.json()
