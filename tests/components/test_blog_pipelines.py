"""The blog post's pipelines run with hayswitch components (fake provider; ``local`` when installed)."""

from __future__ import annotations

import asyncio
import importlib.util
import runpy
import sys
import uuid
from pathlib import Path

import pytest
from haystack.dataclasses import StreamingChunk
from haystack.document_stores.in_memory import InMemoryDocumentStore

import hayswitch

from .blog import CORPUS, QUESTION, chat_rag_pipeline, indexing_pipeline, rag_pipeline, run_data

ROOT = Path(__file__).resolve().parents[2]
# 256 dimensions: fewer hash collisions, so the fake vectors retrieve the right document.
FAKE = {"provider": "fake", "settings": {"dimension": 256}}


def _indexed_store(**provider: object) -> InMemoryDocumentStore:
    store = InMemoryDocumentStore(index=f"blog-{uuid.uuid4()}")
    result = indexing_pipeline(store, **provider).run({"embedder": {"documents": CORPUS}})
    assert result["writer"]["documents_written"] == len(CORPUS)
    return store


def test_blog_rag_pipeline_runs_with_hayswitch_components() -> None:
    store = _indexed_store(**FAKE)
    stored = store.filter_documents()
    assert all(d.embedding is not None and d.meta["embedding_provider"] == "fake" for d in stored)
    assert all(d.embedding is None for d in CORPUS)  # the corpus itself was not mutated

    result = rag_pipeline(store, **FAKE).run(run_data(), include_outputs_from={"retriever"})
    top = result["retriever"]["documents"][0]
    assert top.meta["title"] == "custom components"
    (reply,) = result["generator"]["replies"]
    assert reply.startswith("Echo: Answer the query")  # fake echoes the prompt it was given
    assert "@component decorator" in reply  # the retrieved document made it into the prompt
    assert reply.rstrip().endswith(f"Query: {QUESTION}")
    assert result["generator"]["meta"][0]["provider"] == "fake"


def test_blog_chat_pipeline_runs_sync_and_async_with_streaming() -> None:
    store = _indexed_store(**FAKE)
    chunks: list[StreamingChunk] = []
    pipeline = chat_rag_pipeline(store, **FAKE)
    sync = pipeline.run(run_data())
    (reply,) = sync["llm"]["replies"]
    assert "@component decorator" in (reply.text or "")
    assert reply.meta["usage"]["total_tokens"] > 0

    async_pipeline = chat_rag_pipeline(store, **FAKE)
    async_pipeline.get_component("llm").streaming_callback = chunks.append  # type: ignore[attr-defined]
    asynchronous = asyncio.run(async_pipeline.run_async(run_data()))
    (async_reply,) = asynchronous["llm"]["replies"]
    assert async_reply.text == reply.text
    assert "".join(c.content for c in chunks) == reply.text


def test_pipeline_close_releases_providers() -> None:
    store = _indexed_store(**FAKE)
    pipeline = rag_pipeline(store, **FAKE)
    pipeline.run(run_data())
    generator = pipeline.get_component("generator")
    assert generator.provider_instance is not None  # type: ignore[attr-defined]
    pipeline.close()
    assert generator.provider_instance is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "argv", [["blog_pipeline.py"], ["blog_chat_pipeline.py", "--async", "--stream"], ["blog_chat_pipeline.py"]]
)
def test_examples_run_on_the_fake_provider(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ROOT / "examples" / argv[0]
    monkeypatch.setattr(sys, "argv", [str(script), "--provider", "fake", *argv[1:]])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "Echo:" in out
    assert "provider: fake" in out
    if "--stream" in argv:
        assert "[ASSISTANT]" in out  # printed by Haystack's print_streaming_chunk while streaming


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("hayswitch_local") is None, reason="hayswitch-local is not installed")
def test_blog_rag_pipeline_on_the_local_provider() -> None:
    hayswitch.get_provider_class("local")
    store = _indexed_store(provider="local")
    assert store.filter_documents()[0].meta["embedding_provider"] == "local"
    data = {**run_data(), "generator": {"generation_kwargs": {"max_tokens": 8}}}
    result = rag_pipeline(store, provider="local").run(data, include_outputs_from={"retriever"})
    assert result["retriever"]["documents"][0].meta["title"] == "custom components"
    (reply,) = result["generator"]["replies"]
    assert reply.strip()
    assert result["generator"]["meta"][0]["provider"] == "local"
