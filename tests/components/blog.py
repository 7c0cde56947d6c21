"""The Gradient blog post's pipelines with hayswitch components substituted one for one.

(``../shared/reference/gradient-haystack-blog.md``: ``GradientTextEmbedder`` ->
``ProviderTextEmbedder``, ``GradientGenerator`` -> ``ProviderGenerator``, ``GradientDocumentEmbedder``
-> ``ProviderDocumentEmbedder``.) The connect() calls and the run data are the blog's own.
"""

from __future__ import annotations

from typing import Any

from haystack import Document, Pipeline
from haystack.components.builders import ChatPromptBuilder, PromptBuilder
from haystack.components.retrievers import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.dataclasses import ChatMessage
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator, ProviderGenerator

QUESTION = "What are the steps for creating a custom component?"

# The blog's prompt, verbatim.
PROMPT = """ Answer the query, based on the
content in the documents.

Documents:
{% for doc in documents %}
  {{doc.content}}
{% endfor %}

Query: {{query}}
"""

CHAT_TEMPLATE = [
    ChatMessage.from_system("Answer the query, based on the content in the documents."),
    ChatMessage.from_user("Documents:\n{% for doc in documents %}  {{doc.content}}\n{% endfor %}\nQuery: {{query}}"),
]

CORPUS = [
    Document(
        content="Creating a custom component: write a class with the @component decorator, "
        "declare its outputs with @component.output_types, and implement a run method.",
        meta={"title": "custom components"},
    ),
    Document(
        content="The InMemoryDocumentStore keeps documents in memory; it is handy for tests.", meta={"title": "stores"}
    ),
    Document(
        content="Pipelines connect components; the output of one becomes the input of the next.",
        meta={"title": "pipelines"},
    ),
    Document(
        content="Fine-tuning adapts a base model to your data on the Gradient platform.", meta={"title": "fine-tuning"}
    ),
]


def indexing_pipeline(store: InMemoryDocumentStore, **embedder: Any) -> Pipeline:
    """ProviderDocumentEmbedder -> DocumentWriter."""
    pipeline = Pipeline()
    pipeline.add_component(instance=ProviderDocumentEmbedder(progress_bar=False, **embedder), name="embedder")
    pipeline.add_component(instance=DocumentWriter(document_store=store), name="writer")
    pipeline.connect("embedder", "writer")
    return pipeline


def rag_pipeline(store: InMemoryDocumentStore, **provider: Any) -> Pipeline:
    """The blog's RAG pipeline, connected exactly as in the post."""
    text_embedder = ProviderTextEmbedder(**provider)
    retriever = InMemoryEmbeddingRetriever(document_store=store)
    prompt_builder = PromptBuilder(template=PROMPT, required_variables=["query", "documents"])
    generator = ProviderGenerator(generation_kwargs={"max_tokens": 350}, **provider)

    rag = Pipeline()
    rag.add_component(instance=text_embedder, name="text_embedder")
    rag.add_component(instance=retriever, name="retriever")
    rag.add_component(instance=prompt_builder, name="prompt_builder")
    rag.add_component(instance=generator, name="generator")

    rag.connect("text_embedder", "retriever")
    rag.connect("retriever.documents", "prompt_builder.documents")
    rag.connect("prompt_builder", "generator")
    return rag


def chat_rag_pipeline(store: InMemoryDocumentStore, **provider: Any) -> Pipeline:
    """The same RAG pipeline in chat form: ChatPromptBuilder -> ProviderChatGenerator."""
    rag = Pipeline()
    rag.add_component(instance=ProviderTextEmbedder(**provider), name="text_embedder")
    rag.add_component(instance=InMemoryEmbeddingRetriever(document_store=store), name="retriever")
    rag.add_component(
        instance=ChatPromptBuilder(template=CHAT_TEMPLATE, required_variables=["query", "documents"]),
        name="prompt_builder",
    )
    rag.add_component(instance=ProviderChatGenerator(generation_kwargs={"max_tokens": 350}, **provider), name="llm")
    rag.connect("text_embedder", "retriever")
    rag.connect("retriever.documents", "prompt_builder.documents")
    rag.connect("prompt_builder.prompt", "llm.messages")
    return rag


def run_data(question: str = QUESTION) -> dict[str, Any]:
    """The blog's run data."""
    return {"text_embedder": {"text": question}, "prompt_builder": {"query": question}}
