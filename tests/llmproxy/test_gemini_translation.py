"""OpenAI shapes to Gemini's and back, without HTTP (llmproxy.providers.gemini_request and
gemini_reply): the edge cases the SDK suite does not reach."""

import pytest

from llmproxy.errors import UnsupportedParameter
from llmproxy.providers.datatypes import ChatRequest, EmbeddingRequest, Reply, embeddings_body
from llmproxy.providers.gemini_reply import Chunks, completion
from llmproxy.providers.gemini_request import embed_requests, generate_content_body

HI = {"role": "user", "content": "Hi"}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def translated(**body) -> dict:
    return generate_content_body(ChatRequest({"messages": [HI], **body}))


def refused(**body) -> str:
    with pytest.raises(UnsupportedParameter) as caught:
        generate_content_body(ChatRequest({"messages": [HI], **body}))
    assert caught.value.message.startswith(f"{caught.value.param}: ")
    return caught.value.param


def test_gateway_fields_and_nulls_are_not_translated():
    body = translated(model="gemini", stream=True, stream_options={}, user="u", top_p=None)
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"messages": [HI, {"role": "tool", "tool_call_id": "call_9", "content": "x"}]},
            "messages.1.tool_call_id",
        ),
        (
            {
                "messages": [
                    HI,
                    {
                        "role": "assistant",
                        "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}],
                    },
                ]
            },
            "messages.1.tool_calls.0.function.arguments",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
            "messages.0.content.0",
        ),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages.0.role"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"file_id": "f1"}}]}
                ]
            },
            "messages.0.content.0.file.file_id",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages.0.content.0.type",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema.schema",
        ),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools.0.type"),
        ({"tool_choice": {"type": "custom", "custom": {"name": "x"}}}, "tool_choice.type"),
        ({"functions": [{"name": "f"}]}, "functions"),
    ],
)
def test_what_gemini_cannot_do_is_refused_naming_the_field(body, param):
    assert refused(**body) == param


def test_allowed_tools_choice_and_file_data():
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
    }
    file = {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"},
    }
    body = translated(tool_choice=choice, messages=[{"role": "user", "content": [file]}])
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBER"}}
    ]


@pytest.mark.parametrize(
    ("gemini", "finish", "text"),
    [
        (
            {
                "candidates": [
                    {"content": {"parts": [{"text": "cut"}]}, "finishReason": "MAX_TOKENS"}
                ]
            },
            "length",
            "cut",
        ),
        (
            {"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}]},
            "content_filter",
            "",
        ),
        ({"promptFeedback": {"blockReason": "SAFETY"}}, "content_filter", ""),
        (
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": "hmm", "thought": True}, {"text": "42"}]},
                        "finishReason": "STOP",
                    }
                ]
            },
            "stop",
            "42",
        ),
    ],
)
def test_answers_finish_reasons_and_thoughts(gemini, finish, text):
    reply = Reply(completion(gemini, "up"))
    assert (reply.finish_reason, reply.text) == (finish, text)


def test_a_stream_sends_usage_once_after_the_last_event():
    def event(text, finish=None, completion=1):
        candidate = {
            "content": {"parts": [{"text": text}]},
            **({"finishReason": finish} if finish else {}),
        }
        usage = {
            "promptTokenCount": 5,
            "candidatesTokenCount": completion,
            "cachedContentTokenCount": 1,
        }
        return {"candidates": [candidate], "usageMetadata": usage}

    class Events(list):
        def close(self):
            pass

    chunks = list(Chunks(Events([event("a"), event("b", "STOP", 2)]), "up"))
    assert [c["choices"][0]["delta"] for c in chunks[:2]] == [
        {"role": "assistant", "content": "a"},
        {"content": "b"},
    ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 1},
    }


def test_embedding_requests_refuse_token_lists_and_unknown_fields():
    with pytest.raises(UnsupportedParameter) as caught:
        embed_requests(EmbeddingRequest({"input": [[1, 2]]}), "m")
    assert caught.value.param == "input"
    with pytest.raises(UnsupportedParameter) as caught:
        embed_requests(EmbeddingRequest({"input": "x", "normalize": True}), "m")
    assert caught.value.param == "normalize"


def test_base64_embeddings_are_little_endian_float32():
    assert embeddings_body([[1.0, -2.0]], "m", "base64")["data"][0]["embedding"] == "AACAPwAAAMA="
