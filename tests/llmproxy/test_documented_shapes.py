"""The output serializers document the answers; these keep the documentation true."""

import pytest
from rest_framework import serializers

from llmproxy import serializers as shapes
from tests.llmproxy.helpers import events, post

pytestmark = pytest.mark.django_db

HI = [{"role": "user", "content": "Hi"}]


def assert_shape(body, documented: serializers.Serializer):
    """Same keys at every level (optional fields may be absent)."""
    fields = documented.fields
    required = {name for name, field in fields.items() if field.required}
    assert required <= set(body) <= set(fields), (set(body), set(fields))
    for name, value in body.items():
        field = fields[name]
        if isinstance(field, serializers.ListSerializer):
            for item in value:
                assert_shape(item, field.child)
        elif isinstance(field, serializers.Serializer):
            assert_shape(value, field)


@pytest.mark.parametrize(
    ("path", "body", "documented"),
    [
        ("/api/llm/completion", {"prompt": "Hi"}, shapes.CompletionOutput()),
        ("/api/llm/chat", {"messages": HI}, shapes.ChatOutput()),
        ("/v1/chat/completions", {"model": "solo", "messages": HI}, shapes.ChatCompletionOutput()),
        (
            "/v1/chat/completions",
            {"model": "google", "messages": HI},
            shapes.ChatCompletionOutput(),
        ),
        ("/v1/embeddings", {"model": "vectors", "input": ["a", "b"]}, shapes.EmbeddingListOutput()),
        ("/v1/embeddings", {"model": "gvectors", "input": "a"}, shapes.EmbeddingListOutput()),
    ],
)
def test_answers_have_the_documented_shape(client, auth, fake, path, body, documented):
    assert_shape(post(client, path, body, auth).json(), documented)


def test_last_llm_stream_event_has_the_documented_shape(client, auth, fake):
    received = events(post(client, "/api/llm/completion", {"prompt": "Hi", "stream": True}, auth))
    assert_shape(received[-2], shapes.CompletionOutput())


def test_model_list_has_the_documented_shape(client, auth):
    assert_shape(client.get("/v1/models", **auth).json(), shapes.ModelListOutput())


@pytest.mark.parametrize(
    ("path", "documented"),
    [
        ("/api/llm/completion", shapes.ErrorOutput()),
        ("/v1/chat/completions", shapes.OpenAIErrorOutput()),
        ("/v1/embeddings", shapes.OpenAIErrorOutput()),
    ],
)
def test_errors_have_the_documented_shape(client, auth, path, documented):
    assert_shape(post(client, path, {"model": "nope"}, auth).json(), documented)
