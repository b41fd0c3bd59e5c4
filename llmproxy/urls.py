from django.urls import path, re_path

from llmproxy import views

completion = views.LLMViewSet.as_view({"post": "completion"})
chat = views.LLMViewSet.as_view({"post": "chat"})

urlpatterns = [
    path("api/llm/completion", completion, name="llm-completion"),
    path("api/llm/chat", chat, name="llm-chat"),
    path(
        "v1/chat/completions", views.ChatCompletionsView.as_view(), name="openai-chat-completions"
    ),
    path("v1/embeddings", views.EmbeddingsView.as_view(), name="openai-embeddings"),
    path("v1/models", views.ModelListView.as_view(), name="openai-models"),
    path("v1/models/<path:model>", views.ModelView.as_view(), name="openai-model"),
    # Unknown /v1 paths answer in OpenAI's error shape too.
    re_path(r"^v1/", views.openai_not_found),
]
