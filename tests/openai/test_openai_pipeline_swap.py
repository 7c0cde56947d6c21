"""The same RAG pipeline on ``local`` and on ``openai`` (a real llama.cpp OpenAI-compatible server):
only the configuration changes, never the pipeline code.

The test body is one function parametrized over provider configurations; a second test loads a
pipeline saved with ``provider: null`` and switches it to the server with environment variables
alone (``HAYSWITCH_PROVIDER`` / ``HAYSWITCH_OPENAI__*``).
"""

from __future__ import annotations

import importlib.util
import uuid
from typing import Any

import pytest
from haystack import Document, Pipeline
from haystack.components.builders import PromptBuilder
from haystack.components.retrievers import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore
from openai_support import KEY_VAR, LIVE_KEY

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderGenerator
from llamacpp_server import DEFAULT_ALIAS, LlamaCppServer

pytestmark = pytest.mark.live

CORPUS = [
    Document(content="Creating a custom component: decorate a class with @component and write a run method."),
    Document(content="The InMemoryDocumentStore keeps documents in memory and is handy for tests."),
    Document(content="Pipelines connect components; the output of one becomes the input of the next."),
    Document(content="Bananas are rich in potassium and grow in tropical climates."),
]
PROMPT = """Answer the question using the documents.
{% for doc in documents %}- {{ doc.content }}
{% endfor %}
Question: {{ query }}
Answer:"""

HAS_LOCAL = importlib.util.find_spec("hayswitch_local") is not None


def build_pipelines(store: InMemoryDocumentStore, provider: str | None, settings: dict[str, Any] | None) -> Any:
    """The pipeline code: identical for every backend."""
    indexing = Pipeline()
    indexing.add_component(
        "embedder", ProviderDocumentEmbedder(provider=provider, settings=settings, progress_bar=False, batch_size=8)
    )
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("embedder", "writer")

    rag = Pipeline()
    rag.add_component("text_embedder", ProviderTextEmbedder(provider=provider, settings=settings))
    rag.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=2))
    rag.add_component("prompt_builder", PromptBuilder(template=PROMPT, required_variables=["query", "documents"]))
    rag.add_component(
        "generator",
        ProviderGenerator(provider=provider, settings=settings, generation_kwargs={"max_tokens": 8, "temperature": 0}),
    )
    rag.connect("text_embedder", "retriever")
    rag.connect("retriever.documents", "prompt_builder.documents")
    rag.connect("prompt_builder", "generator")
    return indexing, rag


def run_rag(provider: str | None, settings: dict[str, Any] | None) -> dict[str, Any]:
    store = InMemoryDocumentStore(index=f"swap-{uuid.uuid4()}")
    indexing, rag = build_pipelines(store, provider, settings)
    written = indexing.run({"embedder": {"documents": CORPUS}})["writer"]["documents_written"]
    # The query is a document's own text, so any sane embedding model ranks that document first.
    query = CORPUS[3].content
    assert query is not None
    out = rag.run(
        {"text_embedder": {"text": query}, "prompt_builder": {"query": query}},
        include_outputs_from={"retriever", "text_embedder"},
    )
    indexing.close()
    rag.close()
    return {"written": written, "store": store, "out": out}


@pytest.fixture(
    params=[
        pytest.param("local", marks=pytest.mark.skipif(not HAS_LOCAL, reason="hayswitch-local is not installed")),
        "openai",
    ]
)
def backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any] | None, int]:
    """(provider, settings, expected dimension): the only thing that differs between runs."""
    if request.param == "local":
        return "local", None, 384
    server: LlamaCppServer = request.getfixturevalue("llama_server")
    request.getfixturevalue("live_key")
    settings = {
        "base_url": server.base_url,
        "api_key": f"env:{KEY_VAR}",
        "chat_model": DEFAULT_ALIAS,
        "embedding_model": DEFAULT_ALIAS,
    }
    return "openai", settings, 576


def test_same_rag_pipeline_on_each_backend(backend: tuple[str, dict[str, Any] | None, int]) -> None:
    provider, settings, dimension = backend
    result = run_rag(provider, settings)
    assert result["written"] == len(CORPUS)
    stored = result["store"].filter_documents()
    assert {d.meta["embedding_provider"] for d in stored} == {provider}
    assert {len(d.embedding) for d in stored} == {dimension}
    assert all(d.embedding is None for d in CORPUS), "the input documents were mutated"
    out = result["out"]
    assert len(out["text_embedder"]["embedding"]) == dimension
    assert out["retriever"]["documents"][0].content == CORPUS[3].content
    (reply,) = out["generator"]["replies"]
    assert reply.strip()
    assert out["generator"]["meta"][0]["provider"] == provider


def test_saved_pipeline_switches_to_the_server_with_environment_only(
    llama_server: LlamaCppServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = InMemoryDocumentStore(index=f"swap-{uuid.uuid4()}")
    indexing, rag = build_pipelines(store, None, None)
    indexing_yaml, rag_yaml = indexing.dumps(), rag.dumps()
    assert "provider: null" in rag_yaml
    assert "127.0.0.1" not in rag_yaml  # nothing about the backend is saved in the pipeline

    monkeypatch.setenv("HAYSWITCH_PROVIDER", "openai")
    monkeypatch.setenv("HAYSWITCH_OPENAI__BASE_URL", llama_server.base_url)
    monkeypatch.setenv("HAYSWITCH_OPENAI__CHAT_MODEL", DEFAULT_ALIAS)
    monkeypatch.setenv("HAYSWITCH_OPENAI__EMBEDDING_MODEL", DEFAULT_ALIAS)
    monkeypatch.setenv("OPENAI_API_KEY", LIVE_KEY)

    indexing, rag = Pipeline.loads(indexing_yaml), Pipeline.loads(rag_yaml)
    loaded_store = indexing.get_component("writer").document_store  # type: ignore[attr-defined]
    indexing.run({"embedder": {"documents": CORPUS}})
    query = CORPUS[1].content
    out = rag.run(
        {"text_embedder": {"text": query}, "prompt_builder": {"query": query}}, include_outputs_from={"retriever"}
    )
    assert {d.meta["embedding_provider"] for d in loaded_store.filter_documents()} == {"openai"}
    assert out["retriever"]["documents"][0].content == query
    assert out["generator"]["meta"][0]["provider"] == "openai"
    indexing.close()
    rag.close()


def test_chat_generator_streams_haystack_chunks_from_the_server(live_settings: dict[str, Any]) -> None:
    """Server-sent events -> hayswitch GenerationChunk -> Haystack StreamingChunk, sync and async."""
    from haystack.dataclasses import ChatMessage, StreamingChunk

    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    chunks: list[StreamingChunk] = []
    llm = ProviderChatGenerator(
        provider="openai",
        settings=live_settings,
        generation_kwargs={"max_tokens": 8, "temperature": 0},
        streaming_callback=chunks.append,
    )
    (reply,) = llm.run([ChatMessage.from_user("Count from one to five.")])["replies"]
    assert len(chunks) >= 2
    assert all(isinstance(c, StreamingChunk) for c in chunks)
    assert "".join(c.content for c in chunks) == reply.text
    assert reply.meta["finish_reason"] == "length"

    async_chunks: list[StreamingChunk] = []

    async def collect(chunk: StreamingChunk) -> None:
        async_chunks.append(chunk)

    import asyncio

    result = asyncio.run(llm.run_async([ChatMessage.from_user("Count from one to five.")], streaming_callback=collect))
    assert "".join(c.content for c in async_chunks) == result["replies"][0].text == reply.text
    llm.close()
