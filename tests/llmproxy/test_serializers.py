"""The LLM input serializers: /api/llm's copy their declared fields shallowly; OpenAI's check
the documented fields of a body and pass the body itself on (llmproxy.serializers)."""

import pytest

from llmproxy.serializers import ChatCompletionInput, ChatInput, CompletionInput, EmbeddingInput

HI = [{"role": "user", "content": "Hi"}]
AT_MOST_32768 = "Ensure this value is less than or equal to 32768"


@pytest.mark.parametrize("serializer_class", [ChatInput, CompletionInput])
def test_each_instance_binds_its_own_copy_of_every_declared_field(serializer_class):
    first, second = serializer_class(data={}), serializer_class(data={})
    for name, template in serializer_class._declared_fields.items():
        assert first.fields[name] is not template
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
        assert template.parent is None, "the class's declared fields must stay unbound"


def test_nested_messages_are_validated_with_fields_of_their_own():
    body = {"model": "gemini", "messages": [{"role": "developer", "content": "Be brief."}]}
    first, second = ChatInput(data=body), ChatInput(data={**body})
    assert first.is_valid() and second.is_valid()
    assert first.fields["messages"].child is not second.fields["messages"].child
    assert first.validated_data["messages"] == [{"role": "system", "content": "Be brief."}]


def test_an_openai_body_is_passed_on_as_the_same_object_unconverted():
    body = {
        "model": "gemini",
        "messages": [{"role": "assistant", "content": None, "tool_calls": []}, *HI],
        "temperature": 1,  # an int stays an int: nothing is converted
        "some_newer_field": {"anything": [1, 2]},
    }
    serializer = ChatCompletionInput(data=body)
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data is body
    assert body["temperature"] == 1 and type(body["temperature"]) is int


def test_checking_a_body_neither_copies_nor_binds_the_field_templates():
    serializer = ChatCompletionInput(data={"model": "gemini", "messages": HI})
    assert serializer.is_valid()
    assert "fields" not in serializer.__dict__, "the per-instance field copies were built"
    assert all(field.parent is None for field in ChatCompletionInput._declared_fields.values())


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ([1, 2], {"non_field_errors": ["Expected a JSON object."]}),
        ({}, {"model": ["This field is required."], "messages": ["This field is required."]}),
        (
            {"model": "gemini", "messages": HI, "temperature": "0.5", "stop": 4},
            {
                "temperature": ["Must be a JSON number."],
                "stop": ["Must be a JSON string or array."],
            },
        ),
        (
            {"model": "gemini", "messages": [{"role": "tool", "content": [{"type": 1}]}]},
            {"messages": {"0": {"content": {"0": {"type": ["Must be a JSON string."]}}}}},
        ),
        (
            {"model": "gemini", "messages": HI, "logit_bias": {"50256": -101}},
            {"logit_bias": {"50256": ["Ensure this value is greater than or equal to -100."]}},
        ),
        (
            {"model": "gemini", "messages": HI, "response_format": {"type": "yaml"}},
            {"response_format": {"type": ["Must be one of: text, json_object, json_schema."]}},
        ),
        (
            {"model": "gemini", "messages": HI, "max_tokens": 40000},
            {"max_tokens": [f"{AT_MOST_32768} (the limit of model 'gemini')."]},
        ),
    ],
)
def test_invalid_openai_bodies_name_the_field_at_fault(body, errors):
    serializer = ChatCompletionInput(data=body)
    assert not serializer.is_valid()
    assert serializer.errors == errors


@pytest.mark.parametrize(
    "value",
    ["one text", ["two", "texts"], [1, 2, 3], [[1, 2], [3]]],
)
def test_embedding_inputs_of_every_documented_form_are_accepted(llm, fake, value):
    routes = {"vec": {"base_url": fake.openai_url, "kind": "embedding"}}
    llm({"gemini": {"provider": "local"}, **routes})
    assert EmbeddingInput(data={"model": "vec", "input": value}).is_valid()


@pytest.mark.parametrize("value", ["", [], [""], [[]], 7, None])
def test_empty_or_mistyped_embedding_inputs_are_refused(llm, fake, value):
    routes = {"vec": {"base_url": fake.openai_url, "kind": "embedding"}}
    llm({"gemini": {"provider": "local"}, **routes})
    serializer = EmbeddingInput(data={"model": "vec", "input": value})
    assert not serializer.is_valid()
    assert list(serializer.errors) == ["input"]
