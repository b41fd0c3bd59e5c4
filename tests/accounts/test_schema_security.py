from drf_spectacular.generators import SchemaGenerator


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
