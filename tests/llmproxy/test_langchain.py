"""A framework on top of the SDK: LangChain's ChatOpenAI and OpenAIEmbeddings, pointed at a
live gateway, as an agent uses them (bind_tools, a tool loop, structured output, streams).

Everything here runs offline. tiktoken (a LangChain dependency) downloads its encodings at
first use; nothing used here needs one, and OpenAIEmbeddings is told not to count tokens
(`check_embedding_ctx_length=False`), as it must be for any non-OpenAI model anyway.
"""

import openai
import pydantic
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from tests.fake_upstream import CACHED_TOKENS, REASONING_TOKENS, vector

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM = {"solo": "up-solo", "google": "up-google"}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


class Forecast(pydantic.BaseModel):
    city: str
    celsius: int


@pytest.fixture
def connection(live_server, user_token):
    """Where and how to call the gateway. The HTTP client is closed after each test: a
    keep-alive connection left open would keep a live server thread busy past the test."""
    with openai.DefaultHttpx2Client() as http:
        yield {"base_url": f"{live_server.url}/v1", "api_key": user_token, "http_client": http}


@pytest.fixture
def chat(connection):
    def build(model: str, **options) -> ChatOpenAI:
        return ChatOpenAI(model=model, max_retries=0, temperature=0.3, **connection, **options)

    return build


@pytest.mark.parametrize("route", ["solo", "google"])
def test_an_agent_loop_with_bind_tools(chat, fake, route):
    model = chat(route).bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris?")]
    decision = model.invoke(messages)
    [call] = decision.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "fake"})

    messages += [decision, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = model.invoke(messages)
    assert final.content.startswith("Fake answer to: What is the weather in Paris?")
    assert final.usage_metadata["input_token_details"]["cache_read"] == CACHED_TOKENS
    assert final.usage_metadata["output_token_details"]["reasoning"] == REASONING_TOKENS

    first, second = (seen.body for seen in fake.requests_for(UPSTREAM[route]))
    if route == "solo":
        assert first["tools"][0]["function"]["name"] == "get_weather"
        assert first["temperature"] == 0.3
        assert second["messages"][1]["tool_calls"][0]["id"] == call["id"]
        assert second["messages"][2] == {
            "role": "tool",
            "tool_call_id": call["id"],
            "content": "Sunny in fake",
        }
    else:
        [declaration] = first["tools"][0]["functionDeclarations"]
        assert (declaration["name"], declaration["description"]) == (
            "get_weather",
            "The weather in a city.",
        )
        assert first["generationConfig"]["temperature"] == 0.3
        answer = second["contents"][2]["parts"][0]["functionResponse"]
        assert answer == {"name": "get_weather", "response": {"result": "Sunny in fake"}}


@pytest.mark.parametrize("route", ["solo", "google"])
def test_structured_output(chat, fake, route):
    forecast = chat(route).with_structured_output(Forecast, method="json_schema")
    assert forecast.invoke("Forecast for Paris?") == Forecast(city="fake", celsius=1)
    body = fake.requests_for(UPSTREAM[route])[-1].body
    if route == "solo":
        assert body["response_format"]["json_schema"]["name"] == "Forecast"
    else:
        schema = body["generationConfig"]["responseJsonSchema"]
        assert set(schema["properties"]) == {"city", "celsius"}


@pytest.mark.parametrize("route", ["solo", "google"])
def test_streaming_with_usage(chat, fake, route):
    chunks = list(chat(route, stream_usage=True).stream("Hello there"))
    assert "".join(chunk.content for chunk in chunks) == "Fake answer to: Hello there"
    usage = sum(chunks[1:], chunks[0]).usage_metadata
    reported = fake.requests_for(UPSTREAM[route])[-1].usage
    assert (usage["input_tokens"], usage["output_tokens"]) == (
        reported["prompt_tokens"],
        reported["completion_tokens"],
    )


@pytest.mark.parametrize(
    ("route", "upstream"), [("vectors", "up-vectors"), ("gvectors", "up-gvectors")]
)
def test_embeddings(connection, fake, route, upstream):
    embeddings = OpenAIEmbeddings(
        model=route, check_embedding_ctx_length=False, max_retries=0, **connection
    )
    assert embeddings.embed_documents(["one", "two three"]) == [
        pytest.approx(vector("one")),
        pytest.approx(vector("two three")),
    ]
    assert embeddings.embed_query("four") == pytest.approx(vector("four"))
    assert len(fake.requests_for(upstream)) == 2
