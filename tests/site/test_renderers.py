"""JSON answers by orjson (dgen_ping_site.renderers): the values DRF's own renderer writes."""

import datetime
import decimal
import json
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from dgen_ping_site.renderers import FastJSONRenderer

SAMPLES = [
    {"id": "chatcmpl-1", "choices": [{"message": {"content": "Hello"}}], "usage": {"n": 12}},
    {"when": datetime.datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)},
    {"day": datetime.date(2025, 1, 2), "at": datetime.time(3, 4, 5)},
    {"cost": decimal.Decimal("1.25"), "id": uuid.UUID(int=5), "lazy": gettext_lazy("Hello")},
    {"text": "é — 東京 \U0001f600", "floats": [0.1, 1e-7, 1e16, -0.0], "null": None},
    {"nested": [[[{"a": [True, False]}]]], "empty": {}, "list": []},
    ["a", 1, 2.5],
]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_same_json_values_as_drf(data):
    assert json.loads(FastJSONRenderer().render(data)) == json.loads(JSONRenderer().render(data))


def test_dates_and_times_keep_drfs_format():
    data = SAMPLES[1]
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_line_separators_are_escaped_for_javascript():
    body = FastJSONRenderer().render({"text": "a\u2028b\u2029c"})
    assert body == b'{"text":"a\\u2028b\\u2029c"}'


def test_what_orjson_cannot_write_is_written_by_drf():
    data = {"huge": 2**70}
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_a_pretty_printed_answer_is_drfs():
    media = "application/json; indent=4"
    data = SAMPLES[0]
    assert FastJSONRenderer().render(data, media) == JSONRenderer().render(data, media)


def test_nothing_renders_as_nothing():
    assert FastJSONRenderer().render(None) == b""


def test_answers_and_the_browsable_api_are_served(client):
    answer = client.get("/health")
    assert answer["Content-Type"] == "application/json" and answer.json()["status"]
    page = client.get("/health", HTTP_ACCEPT="text/html")
    assert page["Content-Type"].startswith("text/html") and b"<html" in page.content
