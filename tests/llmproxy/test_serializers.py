"""The LLM input serializers copy their declared fields shallowly (llmproxy.serializers)."""

import pytest

from llmproxy.serializers import ChatCompletionInput, ChatInput, CompletionInput


@pytest.mark.parametrize("serializer_class", [ChatCompletionInput, ChatInput, CompletionInput])
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
    first, second = ChatCompletionInput(data=body), ChatCompletionInput(data={**body})
    assert first.is_valid() and second.is_valid()
    assert first.fields["messages"].child is not second.fields["messages"].child
    assert first.validated_data["messages"] == [{"role": "system", "content": "Be brief."}]
