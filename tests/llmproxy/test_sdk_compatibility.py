"""The official `openai` SDK as applications use it, against a live gateway over HTTP.

`solo` is an OpenAI-compatible route: the upstream must receive exactly the body the SDK
sent, but for the model name. `google` is a Gemini route: the upstream must receive the
translation, and what Gemini cannot do is refused before anything is sent. Each test checks
what the fake upstream received and what the SDK handed back to the application.
"""

import json

import openai
import pydantic
import pytest

from tests.fake_upstream import CACHED_TOKENS, REASONING_TOKENS, REFUSAL, SIGNATURE, vector
from tests.llmproxy.helpers import event_fields

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM = {"solo": "up-solo", "google": "up-google"}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def function(name: str, **properties: str) -> dict:
    parameters = {
        "type": "object",
        "properties": {key: {"type": kind} for key, kind in properties.items()},
        "required": list(properties),
    }
    return {
        "type": "function",
        "function": {"name": name, "description": f"The {name}.", "parameters": parameters},
    }


WEATHER = function("get_weather", city="string")
CLOCK = function("get_time", zone="string", offset="integer")


class SentBodies:
    """The JSON bodies the SDK put on the wire, captured by an httpx event hook."""

    def __init__(self):
        self.bodies: list[dict] = []

    def __call__(self, request) -> None:
        self.bodies.append(json.loads(request.read()))

    @property
    def last(self) -> dict:
        return self.bodies[-1]


@pytest.fixture
def sent():
    return SentBodies()


@pytest.fixture
def sdk(live_server, user_token, sent):
    http = openai.DefaultHttpx2Client(event_hooks={"request": [sent]})
    client = openai.OpenAI(
        base_url=f"{live_server.url}/v1", api_key=user_token, max_retries=0, http_client=http
    )
    with client:
        yield client


def received(fake, route: str) -> dict:
    """The body the fake upstream received last for this route."""
    return fake.requests_for(UPSTREAM[route])[-1].body


def as_sent(sent: SentBodies, route: str) -> dict:
    """The SDK's last body as an OpenAI-compatible upstream must receive it."""
    return {**sent.last, "model": UPSTREAM[route]}


def assert_usage_details(usage) -> None:
    assert usage.prompt_tokens_details.cached_tokens == CACHED_TOKENS
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS


# --- Tools ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["solo", "google"])
def test_tool_call_then_a_tool_result_turn(sdk, sent, fake, route):
    first = sdk.chat.completions.create(model=route, messages=ASK, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert (call.type, call.function.name) == ("function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "fake"}
    if route == "solo":
        assert received(fake, route) == as_sent(sent, route)
    else:
        declaration = {
            "name": "get_weather",
            "description": "The get_weather.",
            "parametersJsonSchema": WEATHER["function"]["parameters"],
        }
        assert received(fake, route)["tools"] == [{"functionDeclarations": [declaration]}]

    # The application sends the assistant's message back as it got it, then the result.
    result = {"role": "tool", "tool_call_id": call.id, "content": '{"celsius": 21}'}
    second = sdk.chat.completions.create(
        model=route, messages=[*ASK, choice.message, result], tools=[WEATHER]
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content.startswith("Fake answer to: What is the weather")
    assert second.model == route
    if route == "solo":
        body = received(fake, route)
        assert body == as_sent(sent, route)
        assert body["messages"][1]["content"] is None
        assert body["messages"][1]["tool_calls"][0]["id"] == call.id
    else:
        contents = received(fake, route)["contents"]
        assert [content["role"] for content in contents] == ["user", "model", "user"]
        called = contents[1]["parts"][0]
        assert called["functionCall"] == {"name": "get_weather", "args": {"city": "fake"}}
        assert called["thoughtSignature"] == SIGNATURE  # handed out, and given back
        answer = {"name": "get_weather", "response": {"celsius": 21}}
        assert contents[2]["parts"] == [{"functionResponse": answer}]


@pytest.mark.parametrize("route", ["solo", "google"])
def test_parallel_tool_calls_and_their_results(sdk, sent, fake, route):
    first = sdk.chat.completions.create(
        model=route, messages=ASK, tools=[WEATHER, CLOCK], parallel_tool_calls=True
    )
    calls = first.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1].function.arguments) == {"zone": "fake", "offset": 1}
    assert len({c.id for c in calls}) == 2
    results = [
        {"role": "tool", "tool_call_id": c.id, "content": f"result {n}"}
        for n, c in enumerate(calls)
    ]
    sdk.chat.completions.create(model=route, messages=[*ASK, first.choices[0].message, *results])
    if route == "solo":
        assert received(fake, route) == as_sent(sent, route)
    else:
        last = received(fake, route)["contents"][-1]
        assert [part["functionResponse"]["response"] for part in last["parts"]] == [
            {"result": "result 0"},
            {"result": "result 1"},
        ]


@pytest.mark.parametrize("route", ["solo", "google"])
def test_tool_choice_naming_one_function(sdk, sent, fake, route):
    choice = {"type": "function", "function": {"name": "get_time"}}
    reply = sdk.chat.completions.create(
        model=route, messages=ASK, tools=[WEATHER, CLOCK], tool_choice=choice
    )
    assert [c.function.name for c in reply.choices[0].message.tool_calls] == ["get_time"]
    if route == "google":
        config = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}
        assert received(fake, route)["toolConfig"] == config


@pytest.mark.parametrize("route", ["solo", "google"])
def test_streamed_tool_calls_arrive_whole_through_the_sdks_stream_helper(sdk, sent, fake, route):
    with sdk.chat.completions.stream(
        model=route,
        messages=ASK,
        tools=[WEATHER, CLOCK],
        stream_options={"include_usage": True},
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "fake"}),
        ("get_time", {"zone": "fake", "offset": 1}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert_usage_details(final.usage)
    assert any(event.type == "tool_calls.function.arguments.delta" for event in events)
    if route == "solo":
        assert received(fake, route) == {**as_sent(sent, route), "stream": True}


# --- Structured output ------------------------------------------------------------------------


class Forecast(pydantic.BaseModel):
    city: str
    celsius: int
    sunny: bool


@pytest.mark.parametrize("route", ["solo", "google"])
def test_structured_output_through_the_sdks_parse_helper(sdk, sent, fake, route):
    reply = sdk.chat.completions.parse(model=route, messages=ASK, response_format=Forecast)
    assert reply.choices[0].message.parsed == Forecast(city="fake", celsius=1, sunny=True)
    asked = sent.last["response_format"]
    assert (asked["type"], asked["json_schema"]["strict"]) == ("json_schema", True)
    if route == "solo":
        assert received(fake, route) == as_sent(sent, route)
    else:
        config = received(fake, route)["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"] == asked["json_schema"]["schema"]


@pytest.mark.parametrize("route", ["solo", "google"])
def test_json_mode(sdk, sent, fake, route):
    reply = sdk.chat.completions.create(
        model=route, messages=ASK, response_format={"type": "json_object"}
    )
    assert json.loads(reply.choices[0].message.content) == {"answer": "fake"}
    if route == "google":
        assert received(fake, route)["generationConfig"] == {"responseMimeType": "application/json"}


# --- Content parts ----------------------------------------------------------------------------

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="  # noqa: E501
PARTS = [
    {"type": "text", "text": "What is in this picture?"},
    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
]


@pytest.mark.parametrize("route", ["solo", "google"])
def test_image_and_audio_content_parts(sdk, sent, fake, route):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PARTS}]
    reply = sdk.chat.completions.create(model=route, messages=messages)
    assert reply.choices[0].message.content.startswith("Fake answer to: Be brief.")
    if route == "solo":
        assert received(fake, route) == as_sent(sent, route)
    else:
        body = received(fake, route)
        assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert body["contents"] == [
            {
                "role": "user",
                "parts": [
                    {"text": "What is in this picture?"},
                    {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
                    {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                ],
            }
        ]


def test_an_image_url_gemini_cannot_read_is_refused_naming_the_part(sdk, fake):
    parts = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="google", messages=[{"role": "user", "content": parts}])
    assert caught.value.code == "unsupported_parameter"
    assert caught.value.param == "messages.0.content.0.image_url.url"
    assert "data URLs" in caught.value.message
    assert fake.seen == []


# --- Every parameter --------------------------------------------------------------------------

EVERY_PARAMETER = {
    "temperature": 0.2,
    "top_p": 0.9,
    "n": 2,
    "stop": ["END"],
    "seed": 42,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.25,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "user": "app-user-7",
    "metadata": {"team": "research"},
    "reasoning_effort": "low",
    "service_tier": "auto",
    "store": False,
    "max_completion_tokens": 64,
    "verbosity": "low",
    "prompt_cache_key": "weather-v1",
    "safety_identifier": "hashed-user",
    "prediction": {"type": "content", "content": "Sunny"},
    "extra_body": {"a_field_newer_than_the_gateway": {"keep": [1, 2]}},
}


def test_every_parameter_reaches_an_openai_compatible_upstream_unchanged(sdk, sent, fake):
    reply = sdk.chat.completions.create(model="solo", messages=ASK, **EVERY_PARAMETER)
    body = received(fake, "solo")
    assert body == as_sent(sent, "solo")
    for name, value in EVERY_PARAMETER.items():
        if name != "extra_body":
            assert body[name] == value, name
    assert body["a_field_newer_than_the_gateway"] == {"keep": [1, 2]}
    # And every response field comes back: choices, logprobs, fingerprint, tier, usage details.
    assert [choice.index for choice in reply.choices] == [0, 1]
    assert reply.choices[0].logprobs.content[0].token == "Fake"
    assert reply.choices[0].logprobs.content[0].top_logprobs[0].token == "FAKE"
    assert (reply.system_fingerprint, reply.service_tier) == ("fp_fake", "default")
    assert_usage_details(reply.usage)


def test_gemini_translates_every_parameter_it_has(sdk, fake):
    reply = sdk.chat.completions.create(
        model="google",
        messages=ASK,
        temperature=0.2,
        top_p=0.9,
        n=2,
        stop="END",
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        logprobs=True,
        top_logprobs=2,
        max_completion_tokens=64,
        reasoning_effort="low",
        user="app-user-7",
    )
    assert received(fake, "google")["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "candidateCount": 2,
        "stopSequences": ["END"],
        "seed": 42,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
        "responseLogprobs": True,
        "logprobs": 2,
        "maxOutputTokens": 64,
        "thinkingConfig": {"thinkingBudget": 1024},
    }
    assert [choice.index for choice in reply.choices] == [0, 1]
    first = reply.choices[0].logprobs.content[0]
    assert (first.token, first.logprob, first.top_logprobs[0].token) == ("Fake", -0.25, "FAKE")
    assert_usage_details(reply.usage)


@pytest.mark.parametrize(
    ("asked", "param"),
    [
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"metadata": {"team": "research"}}, "metadata"),
        ({"store": True}, "store"),
        ({"service_tier": "flex"}, "service_tier"),
        ({"parallel_tool_calls": False, "tools": [WEATHER]}, "parallel_tool_calls"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"extra_body": {"a_field_newer_than_the_gateway": 1}}, "a_field_newer_than_the_gateway"),
        ({"messages": [{"role": "user", "content": "Hi", "name": "ann"}]}, "messages.0.name"),
    ],
)
def test_gemini_refuses_what_it_cannot_do_naming_the_field(sdk, fake, asked, param):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(**{"model": "google", "messages": ASK, **asked})
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", param)
    assert caught.value.body["message"].startswith(f"{param}: ")
    assert fake.seen == []


# --- Streams, refusals ------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["solo", "google"])
def test_streamed_logprobs_arrive_chunk_by_chunk(sdk, fake, route):
    chunks = list(
        sdk.chat.completions.create(model=route, messages=ASK, logprobs=True, stream=True)
    )
    logprobs = [c.choices[0].logprobs for c in chunks if c.choices and c.choices[0].logprobs]
    tokens = [entry.token for chunk_logprobs in logprobs for entry in chunk_logprobs.content]
    assert tokens[:3] == ["Fake", "answer", "to:"]
    assert all(chunk.usage is None for chunk in chunks)  # not asked for, not sent


def test_refusals_come_back_plain_and_streamed(sdk, fake):
    fake.script("up-solo", "refuse", "refuse")
    reply = sdk.chat.completions.create(model="solo", messages=ASK)
    assert (reply.choices[0].message.refusal, reply.choices[0].message.content) == (REFUSAL, None)
    chunks = list(sdk.chat.completions.create(model="solo", messages=ASK, stream=True))
    assert [c.choices[0].delta.refusal for c in chunks if c.choices[0].delta.refusal] == [REFUSAL]


# --- Embeddings -------------------------------------------------------------------------------

UPSTREAM_VECTORS = {"vectors": "up-vectors", "gvectors": "up-gvectors"}


@pytest.mark.parametrize("route", ["vectors", "gvectors"])
@pytest.mark.parametrize("texts", ["one text", ["first text", "second, longer text"]])
def test_embeddings_single_and_batch(sdk, sent, fake, route, texts):
    result = sdk.embeddings.create(model=route, input=texts)
    inputs = [texts] if isinstance(texts, str) else texts
    # The SDK asks for base64 by default and decodes it: the vectors must survive that.
    assert sent.last["encoding_format"] == "base64"
    assert [item.embedding for item in result.data] == [
        pytest.approx(vector(text)) for text in inputs
    ]
    assert result.model == route
    seen = fake.requests_for(UPSTREAM_VECTORS[route])[-1]
    if route == "vectors":
        assert seen.body == {**sent.last, "model": "up-vectors"}
        assert result.usage.prompt_tokens == sum(len(text.split()) for text in inputs)
    else:
        method = "embedContent" if isinstance(texts, str) else "batchEmbedContents"
        assert seen.path == f"/v1beta/models/up-gvectors:{method}"
        requests = [seen.body] if isinstance(texts, str) else seen.body["requests"]
        assert [r["content"]["parts"][0]["text"] for r in requests] == inputs
        assert result.usage.prompt_tokens == sum(-(-len(text) // 4) for text in inputs)


def test_gemini_embeddings_with_dimensions_and_float_encoding(sdk, fake):
    result = sdk.embeddings.create(
        model="gvectors", input=["a", "b"], dimensions=4, encoding_format="float"
    )
    assert result.data[1].embedding == vector("b")
    requests = fake.requests_for("up-gvectors")[-1].body["requests"]
    assert [r["outputDimensionality"] for r in requests] == [4, 4]
    assert requests[0]["model"] == "models/up-gvectors"


@pytest.mark.parametrize(
    ("call", "model"),
    [("embeddings", "gemini"), ("embeddings", "nope"), ("chat", "vectors")],
)
def test_a_model_of_the_wrong_kind_is_not_found(sdk, fake, call, model):
    with pytest.raises(openai.NotFoundError) as caught:
        if call == "embeddings":
            sdk.embeddings.create(model=model, input="x")
        else:
            sdk.chat.completions.create(model=model, messages=ASK)
    assert caught.value.code == "model_not_found"
    assert fake.seen == []


# --- What the event records -------------------------------------------------------------------


def test_tool_calls_finish_reason_and_usage_details_are_recorded_without_content(
    client, auth, fake
):
    body = {"model": "google", "messages": ASK, "tools": [WEATHER, CLOCK]}
    response = client.post("/v1/chat/completions", body, format="json", **auth)
    fields = event_fields(response)
    assert (fields["tool_calls"], fields["finish_reason"]) == (2, "tool_calls")
    assert fields["cached_tokens"] == CACHED_TOKENS
    assert fields["reasoning_tokens"] == REASONING_TOKENS
    assert "Paris" not in json.dumps(fields) and "get_weather" not in json.dumps(fields)


def test_an_embedding_request_is_one_event_with_its_input_tokens(client, auth, fake):
    body = {"model": "vectors", "input": ["one two", "three"]}
    response = client.post("/v1/embeddings", body, format="json", **auth)
    assert response.status_code == 200
    fields = event_fields(response)
    assert fields["event_type"] == "openai_embedding"
    tokens = (fields["prompt_tokens"], fields["completion_tokens"], fields["total_tokens"])
    assert tokens == (3, 0, 3)
    assert (fields["target_service"], fields["upstream_model"]) == ("vectors", "up-vectors")
    assert fields["extra"] == {"inputs": 2, "attempts": 1}
