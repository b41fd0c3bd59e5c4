"""GET /api/schema/ is public and unthrottled: the document is generated once per process,
and rendered once per format, whatever clients ask (dgen_ping_site.schema_view)."""

from unittest import mock

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer

pytestmark = pytest.mark.django_db

# (query, Accept header): two formats, asked for in many ways.
ASKED = [
    ({"format": "json"}, ""),
    ({"format": "yaml"}, ""),
    ({"format": "json", "version": "2"}, ""),
    ({"format": "yaml", "version": "x"}, ""),
    ({}, ""),
    ({}, "application/vnd.oai.openapi+json"),
    ({}, "application/vnd.oai.openapi+json; v=1"),
    ({}, "application/vnd.oai.openapi; x=2"),
]


@pytest.fixture
def counted():
    """How many times the document was generated and rendered, from a cold start."""
    calls = {}
    originals = {
        "generated": SchemaGenerator.get_schema,
        "rendered": (OpenApiJsonRenderer.render, OpenApiYamlRenderer.render),
    }

    def count(name, original):
        def counted_call(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)

        return counted_call

    json_render, yaml_render = originals["rendered"]
    with (
        mock.patch.object(
            SchemaGenerator, "get_schema", count("generated", originals["generated"])
        ),
        mock.patch.object(OpenApiJsonRenderer, "render", count("rendered", json_render)),
        mock.patch.object(OpenApiYamlRenderer, "render", count("rendered", yaml_render)),
    ):
        yield calls


def test_the_schema_is_generated_once_and_rendered_once_per_format(client, settings, counted):
    settings.DEBUG = False  # a setting change: the cache starts cold
    bodies = {}
    for _ in range(3):
        for query, accept in ASKED:
            headers = {"HTTP_ACCEPT": accept} if accept else {}
            response = client.get("/api/schema/", query, **headers)
            assert response.status_code == 200, (query, accept)
            bodies.setdefault(response["Content-Type"], set()).add(response.content)
    assert counted == {"generated": 1, "rendered": 2}
    assert sorted(bodies) == [
        "application/vnd.oai.openapi+json",
        "application/vnd.oai.openapi; charset=utf-8",
    ]
    assert all(len(contents) == 1 for contents in bodies.values())


def test_a_setting_change_gives_a_new_document(client, settings):
    before = client.get("/api/schema/", {"format": "json"}).json()
    settings.ALLOW_DEFAULT_TOKEN = True  # no token is then accepted: the schema says so
    after = client.get("/api/schema/", {"format": "json"}).json()
    security = [op["security"] for op in after["paths"]["/telemetry"].values()]
    assert before != after and {} in security[0]
