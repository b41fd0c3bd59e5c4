"""Input and output shapes of the LLM endpoints: the gateway's /api/llm/*, and OpenAI's /v1."""

import copy

from django.conf import settings
from django.core.validators import MinLengthValidator
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from accounts.serializers import SoeidField
from dgen_ping_site.openapi import ErrorOutput as ErrorOutput  # the documented error body
from dgen_ping_site.openapi import json_value, open_object
from dgen_ping_site.parsers import INT64
from dgen_ping_site.serializers import StrictInput
from llmproxy import openai_shapes as shapes
from llmproxy.errors import UnknownModel
from llmproxy.jsonshape import ShapeError, ShapeField, published
from llmproxy.routing import CHAT, EMBEDDING, routing_table

# OpenAI's "developer" role is its newer name for "system".
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def default_model() -> str:
    return settings.LLM["DEFAULT_MODEL"]


def default_temperature() -> float:
    return settings.LLM["DEFAULT_TEMPERATURE"]


def default_max_tokens() -> int:
    return settings.LLM["DEFAULT_MAX_TOKENS"]


class RoutedModelField(serializers.CharField):
    """A model name of the routing table, of one kind (chat or embedding)."""

    def __init__(self, kind: str = CHAT, **kwargs):
        self.kind = kind
        kwargs.setdefault("help_text", f"The name or alias of a {kind} model (GET /v1/models).")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if routing_table().resolve(value, self.kind) is None:
            self.unknown(value)
        return value

    def unknown(self, value: str):
        known = ", ".join(routing_table().model_names(self.kind))
        raise serializers.ValidationError(
            f"Unknown model {value!r}. Known models: {known}.", code="unknown_model"
        )


class OpenAIModelField(RoutedModelField):
    """/v1's model: a JSON string; an unknown one is a 404 `model_not_found`, as OpenAI says."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a JSON string.")
        return super().to_internal_value(data)

    def unknown(self, value: str):
        raise UnknownModel(value, self.kind)


class OutputTokensField(ShapeField):
    """/v1's max_tokens and its kin: at most the route's max_output_tokens (checked per
    model, by the serializer)."""

    def __init__(self, **kwargs):
        super().__init__({"type": "integer", "minimum": 1, "nullable": True}, **kwargs)


class MaxTokensField(serializers.IntegerField):
    """/api/llm's max_tokens: at most the route's max_output_tokens (checked per model)."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, **kwargs)


class RoutedModelExtension(OpenApiSerializerFieldExtension):
    """The model names of one kind, as one named schema (ChatModel, EmbeddingModel)."""

    target_class = RoutedModelField
    match_subclasses = True
    priority = 1  # before dgen_ping_site.openapi.CharFieldSchema

    def map_serializer_field(self, auto_schema, direction):
        kind = self.target.kind
        names = routing_table().model_names(kind)
        # An enum may not be empty: with no model of this kind, no string is valid.
        schema = {"type": "string", **({"enum": names} if names else {"not": {}})}
        component = ResolvedComponent(
            name=f"{kind.capitalize()}Model",
            type=ResolvedComponent.SCHEMA,
            object=f"model-names-{kind}",
            schema=schema,
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class OutputTokensExtension(OpenApiSerializerFieldExtension):
    """The largest limit of any route: a model's own may be lower (docs/llm.md)."""

    target_class = OutputTokensField

    def map_serializer_field(self, auto_schema, direction):
        shape = {**self.target.shape, "maximum": routing_table().largest_max_output_tokens()}
        return published(shape, json_value(auto_schema))


class MaxTokensExtension(OpenApiSerializerFieldExtension):
    target_class = MaxTokensField
    priority = 1  # before dgen_ping_site.openapi.NumberSchema

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "integer",
            "minimum": 1,
            "maximum": routing_table().largest_max_output_tokens(),
        }


def output_tokens_error(model: str, value: int | None) -> str | None:
    """Why `value` output tokens are too many for `model`, or None."""
    limit = routing_table().max_output_tokens(model)
    if value is None or value <= limit:
        return None
    return f"Ensure this value is less than or equal to {limit} (the limit of model {model!r})."


class CostField(serializers.FloatField):
    """What a call cost, added by the gateway to every LLM answer (llmproxy.pricing)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "USD, from the route's price; null when it has none.")
        super().__init__(allow_null=True, **kwargs)


# --- /api/llm/* ------------------------------------------------------------------------------


TEXT_PART = {
    "type": "object",
    "properties": {"type": {"enum": ["text"]}, "text": {"type": "string"}},
    "required": ["type", "text"],
    "additionalProperties": False,
}


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": TEXT_PART}]})
class TextContentField(serializers.Field):
    """Message content: a string, or OpenAI's list of text parts (joined)."""

    default_error_messages = {
        "invalid": 'Content must be a string or a list of text parts ({{"type": "text", '
        '"text": "..."}}, nothing else).',
        "not_text": "Only text content is supported.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if not isinstance(data, list):
            self.fail("invalid")
        if not all(isinstance(part, dict) and part.get("type") == "text" for part in data):
            self.fail("not_text")
        if not all(part.keys() == {"type", "text"} for part in data):
            self.fail("invalid")
        if not all(isinstance(part["text"], str) for part in data):
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


class MessageInput(StrictInput, InputSerializer):
    """One message of /api/llm/chat: a role and text, nothing else (the schema says so)."""

    role = serializers.ChoiceField(choices=sorted(ROLES))
    content = TextContentField()

    def to_internal_value(self, data):
        message = super().to_internal_value(data)
        return {"role": ROLES[message["role"]], "content": message["content"]}


class LLMInput(StrictInput, InputSerializer):
    """Fields /api/llm/completion and /api/llm/chat share."""

    soeid = SoeidField(
        required=False,
        help_text="Defaults to the token's SOEID ('default_user' with the default token). "
        "A real token's SOEID cannot be overridden.",
    )
    project_name = serializers.CharField(
        max_length=128, required=False, help_text="Defaults to 'default_project'."
    )
    model = RoutedModelField(default=default_model, max_length=200)
    temperature = serializers.FloatField(min_value=0.0, max_value=2.0, default=default_temperature)
    max_tokens = MaxTokensField(
        required=False,
        help_text="At most the model's limit. Defaults to DEFAULT_MAX_TOKENS (10000), or the "
        "model's limit if lower.",
    )
    stream = serializers.BooleanField(
        default=False, help_text="Answer as Server-Sent Events (text/event-stream)."
    )

    def validate(self, attrs):
        if "max_tokens" not in attrs:
            limit = routing_table().max_output_tokens(attrs["model"])
            attrs["max_tokens"] = min(default_max_tokens(), limit)
        elif error := output_tokens_error(attrs["model"], attrs["max_tokens"]):
            raise serializers.ValidationError({"max_tokens": [error]})
        return attrs


class CompletionInput(LLMInput):
    """A prompt to complete."""

    prompt = serializers.CharField()


class ChatInput(LLMInput):
    """A conversation to answer."""

    # The validator is what the schema reads to say minItems: 1 (allow_empty refuses first).
    messages = serializers.ListSerializer(
        child=MessageInput(), allow_empty=False, validators=[MinLengthValidator(1)]
    )


class TokensOutput(serializers.Serializer):
    prompt = serializers.IntegerField()
    completion = serializers.IntegerField()
    total = serializers.IntegerField()
    estimated = serializers.BooleanField(help_text="True when the upstream reported no usage.")


class MetadataOutput(serializers.Serializer):
    request_id = serializers.CharField()
    latency = serializers.FloatField(help_text="Seconds.")
    tokens = TokensOutput()
    cost = CostField()
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


class PassThroughInput(serializers.Serializer):
    """An OpenAI request body: its documented fields checked, the body itself passed on.

    Only the fields present are checked, each against its declared shape, using the class's
    field templates (no per-request copies, nothing converted); fields it does not declare
    are the upstream's. The validated data is the body as sent.
    """

    def run_validation(self, data=empty):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object."]}, code="invalid"
            )
        fields = self._declared_fields
        errors = {
            name: ["This field is required."]
            for name, field in fields.items()
            if field.required and name not in data
        }
        if "model" in data and "model" not in errors:
            errors.update(_check(fields["model"], "model", data["model"]))
        for name, value in data.items():
            if name in fields and name != "model":
                errors.update(_check(fields[name], name, value))
        if errors:
            raise serializers.ValidationError(errors)
        return self.validate(data)


def _check(field: serializers.Field, name: str, value) -> dict:
    """{name: error detail} when `value` is not valid for `field`, else {}."""
    try:
        field.run_validation(value)
    except ShapeError as exc:
        return {name: _nested(exc.path, exc.message)}
    except serializers.ValidationError as exc:
        return {name: exc.detail}
    return {}


def _nested(path: tuple, message: str):
    """An error at `path` as DRF nests field errors: {"0": {"content": [message]}}."""
    detail = [message]
    for key in reversed(path):
        detail = {str(key): detail}
    return detail


class PassThroughInputSchema(OpenApiSerializerExtension):
    """Fields a PassThroughInput does not declare are the upstream's: any JSON value the
    request parser takes (dgen_ping_site.openapi.open_object)."""

    target_class = PassThroughInput
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return open_object(schema, auto_schema)


class ChatCompletionInput(PassThroughInput):
    """OpenAI's chat completion request. Every field reaches an OpenAI-compatible upstream as
    sent (fields not listed too); a Gemini route translates or refuses each (docs/llm.md)."""

    model = OpenAIModelField(CHAT, required=True)
    messages = ShapeField(
        shapes.MESSAGES, required=True, help_text="The conversation: at least one message."
    )
    max_tokens = OutputTokensField()
    max_completion_tokens = OutputTokensField()
    temperature = ShapeField(shapes.number(0, 2))
    top_p = ShapeField(shapes.number(0, 1))
    n = ShapeField(shapes.integer(1, 128))
    stream = ShapeField(shapes.anything("boolean", "Answer as Server-Sent Events."))
    stream_options = ShapeField(shapes.STREAM_OPTIONS)
    stop = ShapeField(shapes.STOP)
    seed = ShapeField(shapes.integer(*INT64))
    presence_penalty = ShapeField(shapes.number(-2, 2))
    frequency_penalty = ShapeField(shapes.number(-2, 2))
    logit_bias = ShapeField(shapes.LOGIT_BIAS)
    logprobs = ShapeField(shapes.anything("boolean"))
    top_logprobs = ShapeField(shapes.integer(0, 20))
    response_format = ShapeField(shapes.RESPONSE_FORMAT)
    tools = ShapeField(shapes.TOOLS)
    tool_choice = ShapeField(shapes.TOOL_CHOICE)
    parallel_tool_calls = ShapeField(shapes.anything("boolean"))
    reasoning_effort = ShapeField(shapes.string(nullable=True, description="e.g. low, high."))
    user = ShapeField(shapes.string(description="Passed on unchanged; the token says who calls."))
    metadata = ShapeField(shapes.METADATA)
    store = ShapeField(shapes.anything("boolean"))
    service_tier = ShapeField(shapes.string(nullable=True))
    modalities = ShapeField(shapes.MODALITIES)
    audio = ShapeField(shapes.anything("object"))
    prediction = ShapeField(shapes.anything("object"))
    web_search_options = ShapeField(shapes.anything("object"))
    verbosity = ShapeField(shapes.string(nullable=True))
    prompt_cache_key = ShapeField(shapes.string(nullable=True))
    safety_identifier = ShapeField(shapes.string(nullable=True))

    def validate(self, attrs):
        errors = {}
        for name in ("max_tokens", "max_completion_tokens"):
            if error := output_tokens_error(attrs["model"], attrs.get(name)):
                errors[name] = [error]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class EmbeddingInput(PassThroughInput):
    """OpenAI's embeddings request, passed on like a chat completion request."""

    model = OpenAIModelField(EMBEDDING, required=True)
    input = ShapeField(shapes.EMBEDDING_INPUT, required=True)
    encoding_format = ShapeField(shapes.string(enum=["float", "base64"], nullable=True))
    dimensions = ShapeField(shapes.integer(1, 65536))
    user = ShapeField(shapes.string())


class UsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = CostField()
    prompt_tokens_details = serializers.DictField(
        required=False, help_text="`cached_tokens`, when the upstream reports them."
    )
    completion_tokens_details = serializers.DictField(
        required=False, help_text="`reasoning_tokens`, when the upstream reports them."
    )


class AssistantMessageOutput(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_null=True)
    tool_calls = serializers.ListField(child=serializers.DictField(), required=False)
    refusal = serializers.CharField(allow_null=True, required=False)


class ChoiceOutput(serializers.Serializer):
    index = serializers.IntegerField()
    message = AssistantMessageOutput()
    finish_reason = serializers.CharField(allow_null=True)
    logprobs = serializers.DictField(allow_null=True, required=False)


class ChatCompletionOutput(serializers.Serializer):
    """The upstream's answer as it sent it (other fields it has come too), `model` as asked."""

    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChoiceOutput(many=True)
    usage = UsageOutput()
    system_fingerprint = serializers.CharField(allow_null=True, required=False)
    service_tier = serializers.CharField(allow_null=True, required=False)


class EmbeddingOutput(serializers.Serializer):
    object = serializers.CharField()
    index = serializers.IntegerField()
    embedding = serializers.JSONField(help_text="Floats, or base64 little-endian float32s.")


class EmbeddingUsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = CostField()


class EmbeddingListOutput(serializers.Serializer):
    object = serializers.CharField()
    data = EmbeddingOutput(many=True)
    model = serializers.CharField()
    usage = EmbeddingUsageOutput()


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
    code = serializers.CharField(allow_null=True)


class OpenAIErrorOutput(serializers.Serializer):
    error = OpenAIErrorDetail()
