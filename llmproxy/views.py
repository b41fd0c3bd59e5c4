"""The LLM endpoints: the gateway's /api/llm/* (a viewset) and the OpenAI-compatible /v1/*.

Views validate, say who is charged, call one service and shape the answer; the work is in
llmproxy.services, the wire formats in llmproxy.formats. Output serializers document the
answers (tests keep them in step with llmproxy.formats) but are not run per request: the
bodies are built in their final shape, and a nested serializer would cost ~0.15 ms each time.
"""

import uuid

from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from dgen_ping_site.openapi import BODY_REFUSALS, error_responses
from llmproxy import errors, formats, serializers, services
from llmproxy.metering import GovernanceHeaders
from llmproxy.providers.datatypes import ChatRequest, EmbeddingRequest
from llmproxy.services import ChatCall, EmbeddingCall
from telemetry.context import annotate

STREAM_NOTE = "With `stream: true` the answer is `text/event-stream` (see docs/llm.md)."
EVENT_STREAM = OpenApiResponse(
    serializers.ServerSentEventOutput, description="Server-Sent Events (`stream: true`)."
)


def _documented(summary: str, request, output, error, description: str = "", statuses=()):
    """Schema of an LLM endpoint: its JSON answer, its stream, and every error it can give."""
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        responses={
            (200, "application/json"): OpenApiResponse(output, description=STREAM_NOTE),
            (200, "text/event-stream"): EVENT_STREAM,
            **error_responses(
                400, 401, 403, *statuses, *BODY_REFUSALS, 429, 502, 503, 504, body=error
            ),
        },
    )


def validated(serializer_class, request) -> dict:
    params = serializer_class(data=request.data)
    params.is_valid(raise_exception=True)
    return params.validated_data


def request_id_of(request) -> str:
    # The telemetry middleware's id (also the X-Request-ID header), so both tell one story.
    return getattr(request, "request_id", None) or str(uuid.uuid4())


def event_stream(events) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # Tells nginx-style proxies to pass each event on at once instead of buffering.
    response["X-Accel-Buffering"] = "no"
    return response


def llm_call(data: dict, messages: list[dict]) -> ChatCall:
    """/api/llm's fields as a chat completion request."""
    body = {"messages": messages, "temperature": data["temperature"]}
    body["max_tokens"] = data["max_tokens"]
    return ChatCall(model=data["model"], request=ChatRequest(body), stream=data["stream"])


class LLMViewSet(GovernanceHeaders, viewsets.ViewSet):
    """The gateway's own LLM endpoints: a prompt, or a conversation."""

    event_types = {"completion": services.LLM_COMPLETION, "chat": services.LLM_CHAT}

    def initial(self, request, *args, **kwargs):
        # Typed before authentication and throttling run, so their refusals are typed too.
        # A method the endpoint does not take has no action (OPTIONS: "metadata"): untyped.
        if self.action in self.event_types:
            annotate(request, event_type=self.event_types[self.action])
        super().initial(request, *args, **kwargs)

    def get_exception_handler(self):
        return errors.exception_handler

    @_documented(
        "Complete a prompt",
        serializers.CompletionInput,
        serializers.CompletionOutput,
        serializers.ErrorOutput,
    )
    def completion(self, request):
        data = validated(serializers.CompletionInput, request)
        messages = [{"role": "user", "content": data["prompt"]}]
        return self._answer(request, data, messages, formats.COMPLETION)

    @_documented(
        "Answer a conversation",
        serializers.ChatInput,
        serializers.ChatOutput,
        serializers.ErrorOutput,
    )
    def chat(self, request):
        data = validated(serializers.ChatInput, request)
        return self._answer(request, data, data["messages"], formats.CHAT)

    def _answer(self, request, data: dict, messages: list[dict], kind: str):
        payer = services.charge_to(
            identity=request.user, soeid=data.get("soeid"), project_name=data.get("project_name")
        )
        annotate(request, **payer)
        call, request_id = llm_call(data, messages), request_id_of(request)
        if call.stream:
            stream = services.open_chat_stream(request=request, call=call)
            return event_stream(formats.llm_events(kind, stream, call=call, request_id=request_id))
        result = services.complete_chat(request=request, call=call)
        return Response(formats.llm_body(kind, call=call, answer=result, request_id=request_id))


class OpenAIView(GovernanceHeaders, APIView):
    """Base of /v1: errors in OpenAI's shape, so OpenAI SDKs raise the matching exception."""

    def get_exception_handler(self):
        return errors.openai_exception_handler


def charge_token_holder(request) -> None:
    """/v1 bodies say nothing of who pays: the token's SOEID and project do."""
    annotate(request, **services.charge_to(identity=request.user, soeid=None, project_name=None))


class ChatCompletionsView(OpenAIView):
    def initial(self, request, *args, **kwargs):
        annotate(request, event_type=services.OPENAI_CHAT_COMPLETION)
        super().initial(request, *args, **kwargs)

    @_documented(
        "Chat completion (OpenAI-compatible)",
        serializers.ChatCompletionInput,
        serializers.ChatCompletionOutput,
        serializers.OpenAIErrorOutput,
        "Use the gateway JWT as the API key. The body reaches an OpenAI-compatible upstream as "
        "sent (the model mapped by the routing table); a Gemini route translates each field or "
        "refuses it (400 `unsupported_parameter`). An unknown model is a 404 `model_not_found`. "
        "`stream_options.include_usage` adds a last chunk with token usage.",
        statuses=(404,),
    )
    def post(self, request):
        data = validated(serializers.ChatCompletionInput, request)
        charge_token_holder(request)
        call = ChatCall(
            model=data["model"], request=ChatRequest(data), stream=bool(data.get("stream"))
        )
        if call.stream:
            stream = services.open_chat_stream(request=request, call=call)
            include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
            return event_stream(
                formats.openai_events(stream, call=call, include_usage=include_usage)
            )
        result = services.complete_chat(request=request, call=call)
        return Response(formats.openai_body(call=call, result=result))


class EmbeddingsView(OpenAIView):
    def initial(self, request, *args, **kwargs):
        annotate(request, event_type=services.OPENAI_EMBEDDING)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Embeddings (OpenAI-compatible)",
        description="One vector per input, from a route of kind `embedding`. An unknown model "
        "is a 404 `model_not_found`.",
        request=serializers.EmbeddingInput,
        responses={
            200: serializers.EmbeddingListOutput,
            **error_responses(
                400,
                401,
                403,
                404,
                *BODY_REFUSALS,
                429,
                502,
                503,
                504,
                body=serializers.OpenAIErrorOutput,
            ),
        },
    )
    def post(self, request):
        data = validated(serializers.EmbeddingInput, request)
        charge_token_holder(request)
        call = EmbeddingCall(model=data["model"], request=EmbeddingRequest(data))
        result = services.create_embeddings(request=request, call=call)
        return Response(formats.embeddings_body(call=call, result=result))


def model_entry(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "dgen-ping"}


class ModelListView(OpenAIView):
    @extend_schema(
        summary="Models (OpenAI-compatible)",
        responses={
            200: serializers.ModelListOutput,
            **error_responses(401, 429, body=serializers.OpenAIErrorOutput),
        },
        operation_id="v1_models_list",
    )
    def get(self, request):
        return Response(
            {"object": "list", "data": [model_entry(n) for n in services.known_models()]}
        )


class ModelView(OpenAIView):
    @extend_schema(
        summary="One model (OpenAI-compatible)",
        responses={
            200: serializers.ModelOutput,
            **error_responses(401, 404, 429, body=serializers.OpenAIErrorOutput),
        },
        operation_id="v1_model_retrieve",
    )
    def get(self, request, model: str):
        if not services.is_known_model(model):
            raise errors.UnknownModel(model)
        return Response(model_entry(model))


@csrf_exempt  # a POST to an unknown /v1 path is a 404, not a CSRF 403
def openai_not_found(request, **kwargs) -> JsonResponse:
    """404 in OpenAI's shape for unknown /v1 paths."""
    body = errors.openai_error_body(f"No endpoint at {request.path}.", "not_found", 404)
    return JsonResponse(body, status=404)
