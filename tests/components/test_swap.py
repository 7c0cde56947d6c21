"""Swapping the backend of a saved pipeline without touching the pipeline code.

* a YAML with ``provider: null`` switches with ``HAYSWITCH_PROVIDER`` (or ``HAYSWITCH_PROFILE``) alone;
* a YAML that names a provider switches by editing that one value.

Between ``fake`` (installed through its entry point) and ``alt`` (registered by the fixture).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from haystack import Pipeline
from haystack.document_stores.in_memory import InMemoryDocumentStore

from hayswitch import Provider

from .blog import CORPUS, chat_rag_pipeline, indexing_pipeline, rag_pipeline, run_data


def _yaml_pair(provider: str | None) -> tuple[str, str]:
    """Indexing and RAG pipelines sharing one in-memory index, dumped to YAML."""
    store = InMemoryDocumentStore(index=f"swap-{uuid.uuid4()}")
    return indexing_pipeline(store, provider=provider).dumps(), rag_pipeline(store, provider=provider).dumps()


def _run_from_yaml(indexing_yaml: str, rag_yaml: str) -> dict[str, Any]:
    """Load both pipelines from YAML (as a deployment would), index, ask; report what ran."""
    indexing = Pipeline.loads(indexing_yaml)
    rag = Pipeline.loads(rag_yaml)
    store = indexing.get_component("writer").document_store  # type: ignore[attr-defined]
    store.delete_documents([d.id for d in store.filter_documents()])
    indexing.run({"embedder": {"documents": CORPUS}})
    out = rag.run(run_data(), include_outputs_from={"text_embedder"})
    stored = store.filter_documents()
    return {
        "doc_provider": {d.meta["embedding_provider"] for d in stored},
        "doc_dimension": {len(d.embedding) for d in stored},
        "query_provider": out["text_embedder"]["meta"]["provider"],
        "query_dimension": len(out["text_embedder"]["embedding"]),
        "generator_provider": out["generator"]["meta"][0]["provider"],
        "reply": out["generator"]["replies"][0],
    }


def test_provider_null_switches_with_the_environment_variable_alone(
    alt: type[Provider], monkeypatch: pytest.MonkeyPatch
) -> None:
    indexing_yaml, rag_yaml = _yaml_pair(None)
    assert "provider: null" in rag_yaml

    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    on_fake = _run_from_yaml(indexing_yaml, rag_yaml)
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "alt")
    on_alt = _run_from_yaml(indexing_yaml, rag_yaml)

    assert on_fake["doc_provider"] == {"fake"}
    assert on_fake["query_provider"] == on_fake["generator_provider"] == "fake"
    assert on_fake["doc_dimension"] == {64}
    assert on_fake["reply"].startswith("Echo: ")
    assert on_alt["doc_provider"] == {"alt"}
    assert on_alt["query_provider"] == on_alt["generator_provider"] == "alt"
    assert on_alt["doc_dimension"] == {8}
    assert on_alt["query_dimension"] == 8
    assert on_alt["reply"].startswith("ALT ")


def test_provider_null_switches_with_a_profile(
    alt: type[Provider], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "hayswitch.toml").write_text(
        'default_profile = "dev"\n\n'
        '[profiles.dev]\nprovider = "fake"\nsettings = { dimension = 48 }\n\n'
        '[profiles.prod]\nprovider = "alt"\nsettings = { dimension = 12 }\n'
    )
    monkeypatch.chdir(tmp_path)
    indexing_yaml, rag_yaml = _yaml_pair(None)

    dev = _run_from_yaml(indexing_yaml, rag_yaml)  # default_profile
    monkeypatch.setenv("HAYSWITCH_PROFILE", "prod")
    prod = _run_from_yaml(indexing_yaml, rag_yaml)

    assert (dev["doc_provider"], dev["doc_dimension"], dev["generator_provider"]) == ({"fake"}, {48}, "fake")
    assert (prod["doc_provider"], prod["doc_dimension"], prod["generator_provider"]) == ({"alt"}, {12}, "alt")


def test_named_provider_switches_by_editing_that_one_value(alt: type[Provider]) -> None:
    indexing_yaml, rag_yaml = _yaml_pair("fake")
    assert rag_yaml.count("provider: fake") == 2  # text embedder and generator

    on_fake = _run_from_yaml(indexing_yaml, rag_yaml)
    edited = [y.replace("provider: fake", "provider: alt") for y in (indexing_yaml, rag_yaml)]
    on_alt = _run_from_yaml(*edited)

    assert on_fake["doc_provider"] == {"fake"}
    assert on_fake["generator_provider"] == "fake"
    assert on_alt["doc_provider"] == {"alt"}
    assert on_alt["query_provider"] == on_alt["generator_provider"] == "alt"


def test_named_provider_is_not_overridden_by_the_environment(
    alt: type[Provider], monkeypatch: pytest.MonkeyPatch
) -> None:
    indexing_yaml, rag_yaml = _yaml_pair("fake")
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "alt")
    assert _run_from_yaml(indexing_yaml, rag_yaml)["generator_provider"] == "fake"


def test_chat_pipeline_swaps_too(alt: type[Provider], monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryDocumentStore(index=f"swap-chat-{uuid.uuid4()}")
    indexing_pipeline(store, provider="alt").run({"embedder": {"documents": CORPUS}})
    chat_yaml = chat_rag_pipeline(store).dumps()
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "alt")
    reply = Pipeline.loads(chat_yaml).run(run_data())["llm"]["replies"][0]
    assert reply.meta["provider"] == "alt"
    assert (reply.text or "").startswith("ALT ")


def test_swapping_embedding_backends_is_visible_in_provenance(alt: type[Provider]) -> None:
    """Documents indexed with one backend carry its provider/model, so a later swap is detectable."""
    store = InMemoryDocumentStore(index=f"swap-prov-{uuid.uuid4()}")
    indexing_pipeline(store, provider="fake").run({"embedder": {"documents": CORPUS}})
    query = rag_pipeline(store, provider="alt").get_component("text_embedder").run("q")  # type: ignore[attr-defined]
    stored = store.filter_documents()[0].meta
    assert (stored["embedding_provider"], stored["embedding_model"]) == ("fake", "fake-embed")
    assert (query["meta"]["provider"], query["meta"]["model"]) == ("alt", "alt-embed")
