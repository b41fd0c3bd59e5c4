"""Input and output shapes of the LLM endpoints: the seed's, and OpenAI's chat completions."""

import copy

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import SoeidField
from dgen_ping_site.openapi import ErrorOutput as ErrorOutput  # the documented error body
from dgen_ping_site.serializers import StrictInput
from llmproxy.services import is_known_model, known_models

# OpenAI's "developer" role is its newer name for "system".
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def default_model() -> str:
    return settings.LLM["DEFAULT_MODEL"]


def default_temperature() -> float:
    return settings.LLM["DEFAULT_TEMPERATURE"]


def default_max_tokens() -> int:
    return settings.LLM["DEFAULT_MAX_TOKENS"]


class ModelField(serializers.CharField):
    """A model name of the routing table; an unknown one is refused with the known ones."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text", "A model name or alias of the routing table (GET /v1/models)."
        )
        super().__init__(max_length=200, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not is_known_model(value):
            raise serializers.ValidationError(
                f"Unknown model {value!r}. Known models: {', '.join(known_models())}.",
                code="unknown_model",
            )
        return value


TEXT_PART = {
    "type": "object",
    "properties": {"type": {"enum": ["text"]}, "text": {"type": "string"}},
    "required": ["type", "text"],
}


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": TEXT_PART}]})
class TextContentField(serializers.Field):
    """Message content: a string, or OpenAI's list of text parts (joined)."""

    default_error_messages = {
        "invalid": "Content must be a string or a list of text parts.",
        "not_text": "Only text content is supported.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if not isinstance(data, list):
            self.fail("invalid")
        if not all(isinstance(part, dict) and part.get("type") == "text" for part in data):
            self.fail("not_text")
        if not all(isinstance(part.get("text"), str) for part in data):
            self.fail("invalid")
        return "".join(part["text"] for part in data)

    def to_representation(self, value):
        return value


class InputSerializer(serializers.Serializer):
    """A request body on the LLM path, whose fields are copied shallowly for each request.

    DRF deep-copies the declared fields for every serializer instance, rebuilding each field
    through its __init__: ~0.1 ms of a chat request's CPU. The declared fields are templates
    that are never bound nor changed, so a shallow copy is just as fresh. Nested serializers
    hold fields of their own and are still deep-copied.
    """

    def get_fields(self) -> dict:
        return {name: _fresh(field) for name, field in self._declared_fields.items()}


def _fresh(field: serializers.Field) -> serializers.Field:
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    return copy.copy(field)


class MessageInput(InputSerializer):
    role = serializers.ChoiceField(choices=sorted(ROLES))
    content = TextContentField()

    def to_internal_value(self, data):
        message = super().to_internal_value(data)
        return {"role": ROLES[message["role"]], "content": message["content"]}


class SamplingInput(StrictInput, InputSerializer):
    """Fields every LLM endpoint shares."""

    temperature = serializers.FloatField(min_value=0.0, max_value=2.0, default=default_temperature)
    max_tokens = serializers.IntegerField(min_value=1, default=default_max_tokens)


class SeedInput(SamplingInput):
    soeid = SoeidField(
        required=False,
        help_text="Defaults to the token's SOEID ('default_user' with the default token). "
        "A real token's SOEID cannot be overridden.",
    )
    project_name = serializers.CharField(
        max_length=128, required=False, help_text="Defaults to 'default_project'."
    )
    model = ModelField(default=default_model)
    stream = serializers.BooleanField(
        default=False, help_text="Answer as Server-Sent Events (text/event-stream)."
    )


class CompletionInput(SeedInput):
    prompt = serializers.CharField()


class ChatInput(SeedInput):
    messages = MessageInput(many=True, allow_empty=False)


class TokensOutput(serializers.Serializer):
    prompt = serializers.IntegerField()
    completion = serializers.IntegerField()
    total = serializers.IntegerField()
    estimated = serializers.BooleanField(help_text="True when the upstream reported no usage.")


class MetadataOutput(serializers.Serializer):
    request_id = serializers.CharField()
    latency = serializers.FloatField(help_text="Seconds.")
    tokens = TokensOutput()
    cost = serializers.FloatField(
        allow_null=True, help_text="USD, from the route's price; null when it has none."
    )
    timestamp = serializers.CharField()


class CompletionOutput(serializers.Serializer):
    completion = serializers.CharField()
    model = serializers.CharField()
    finish_reason = serializers.CharField()
    metadata = MetadataOutput()


class MessageOutput(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class ChatOutput(serializers.Serializer):
    message = MessageOutput()
    model = serializers.CharField()
    finish_reason = serializers.CharField()
    metadata = MetadataOutput()


# --- OpenAI-compatible ----------------------------------------------------------------------


class StreamOptionsInput(InputSerializer):
    include_usage = serializers.BooleanField(default=False)


class ChatCompletionInput(SamplingInput):
    """OpenAI's request; fields it has that a gateway cannot honour are ignored, except n."""

    model = ModelField()
    messages = MessageInput(many=True, allow_empty=False)
    temperature = serializers.FloatField(
        min_value=0.0, max_value=2.0, required=False, allow_null=True
    )
    max_tokens = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    max_completion_tokens = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    stream = serializers.BooleanField(default=False, allow_null=True)
    stream_options = StreamOptionsInput(required=False, allow_null=True)
    n = serializers.IntegerField(
        min_value=1, max_value=1, required=False, allow_null=True, help_text="Only 1."
    )
    user = serializers.CharField(required=False, help_text="Ignored: the token says who calls.")

    def validate(self, attrs):
        if attrs.get("temperature") is None:
            attrs["temperature"] = default_temperature()
        attrs["max_tokens"] = (
            attrs.pop("max_completion_tokens", None)
            or attrs.get("max_tokens")
            or default_max_tokens()
        )
        attrs["stream"] = bool(attrs.get("stream"))
        attrs["include_usage"] = bool(
            (attrs.pop("stream_options", None) or {}).get("include_usage")
        )
        return attrs


class UsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.FloatField(
        allow_null=True, help_text="USD, from the route's price; null when it has none."
    )


class ChoiceOutput(serializers.Serializer):
    index = serializers.IntegerField()
    message = MessageOutput()
    finish_reason = serializers.CharField()


class ChatCompletionOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChoiceOutput(many=True)
    usage = UsageOutput()


class ModelOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class ModelListOutput(serializers.Serializer):
    object = serializers.CharField()
    data = ModelOutput(many=True)


class ServerSentEventOutput(serializers.Serializer):
    """One event of a streamed answer: with `text/event-stream` the schema describes each
    event, as OpenAPI 3.1 tools read it (3.2 calls this `itemSchema`)."""

    event = serializers.CharField(required=False)
    data = serializers.CharField(
        help_text="A JSON object (a piece of the answer, the final body, or an error), "
        "then `[DONE]`."
    )


class OpenAIErrorDetail(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField()


class OpenAIErrorOutput(serializers.Serializer):
    error = OpenAIErrorDetail()
