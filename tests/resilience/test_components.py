"""The resilience options of the Haystack components: cache, retry policy, fallbacks."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from haystack import Document, Pipeline
from haystack.dataclasses import ChatMessage, StreamingChunk

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator, ProviderGenerator
from hayswitch import ConfigurationError, ProviderNotFoundError, RetryPolicy
from hayswitch.providers.fake import fake_embedding

FAST = {"max_attempts": 3, "initial_wait": 0, "max_wait": 0}


def docs(n: int, prefix: str = "document") -> list[Document]:
    return [Document(id=f"d{i}", content=f"{prefix} {i} about topic {i % 7}") for i in range(n)]


def requests(component: object) -> int:
    return component.provider_instance.requests  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- cache


def test_reembedding_an_unchanged_corpus_makes_zero_provider_calls(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    corpus = docs(300)
    first = ProviderDocumentEmbedder(provider="fake", cache=str(path), batch_size=64, progress_bar=False)
    cold = first.run(corpus)
    assert cold["meta"]["cache"] == {"hits": 0, "misses": 300}
    assert requests(first) == 5
    first.close()

    second = ProviderDocumentEmbedder(provider="fake", cache=str(path), batch_size=64, progress_bar=False)
    warm = second.run(corpus)
    assert warm["meta"]["cache"] == {"hits": 300, "misses": 0}
    assert requests(second) == 0
    assert [d.id for d in warm["documents"]] == [d.id for d in corpus]
    for doc in warm["documents"]:
        assert doc.embedding == pytest.approx(fake_embedding(doc.content, 64), abs=1e-6)
        assert doc.meta["embedding_model"] == "fake-embed"
    second.close()


def test_only_changed_documents_are_sent(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.sqlite")
    ProviderDocumentEmbedder(provider="fake", cache=path, progress_bar=False).run(docs(50))
    changed = docs(50)
    changed[3] = Document(id="d3", content="rewritten passage")
    embedder = ProviderDocumentEmbedder(provider="fake", cache=path, progress_bar=False)
    out = embedder.run(changed)
    assert out["meta"]["cache"] == {"hits": 49, "misses": 1}
    assert embedder.provider_instance.embedded_texts == 1  # type: ignore[union-attr]
    assert out["documents"][3].embedding == pytest.approx(fake_embedding("rewritten passage", 64), abs=1e-6)


@pytest.mark.parametrize(
    "change",
    [
        {"prefix": "passage: "},
        {"suffix": " (end)"},
        {"settings": {"dimension": 32}},
        {"model": "fake-embed-2"},
        {"meta_fields_to_embed": ["title"]},
    ],
    ids=lambda c: next(iter(c)),
)
def test_anything_that_changes_vectors_misses_the_cache(tmp_path: Path, change: dict[str, object]) -> None:
    path = str(tmp_path / "cache.sqlite")
    corpus = [Document(id=f"d{i}", content=f"text {i}", meta={"title": f"T{i}"}) for i in range(10)]
    ProviderDocumentEmbedder(provider="fake", cache=path, progress_bar=False).run(corpus)
    other = ProviderDocumentEmbedder(provider="fake", cache=path, progress_bar=False, **change)  # type: ignore[arg-type]
    assert other.run(corpus)["meta"]["cache"] == {"hits": 0, "misses": 10}


def test_duplicate_texts_in_a_batch_are_embedded_once(tmp_path: Path) -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", cache=str(tmp_path / "c.sqlite"), progress_bar=False)
    same = [Document(id=f"x{i}", content="the very same text") for i in range(5)]
    out = embedder.run(same)
    assert embedder.provider_instance.embedded_texts == 1  # type: ignore[union-attr]
    vectors = [d.embedding for d in out["documents"]]
    assert all(v == vectors[0] for v in vectors)
    assert len({id(v) for v in vectors}) == 5  # no shared lists between documents


async def test_cache_in_run_async(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.sqlite")
    embedder = ProviderDocumentEmbedder(
        provider="fake", cache=path, batch_size=16, max_concurrency=4, progress_bar=False
    )
    cold = await embedder.run_async(docs(100))
    warm = await embedder.run_async(docs(100))
    assert cold["meta"]["cache"] == {"hits": 0, "misses": 100}
    assert warm["meta"]["cache"] == {"hits": 100, "misses": 0}
    for w, c in zip(warm["documents"], cold["documents"], strict=True):
        assert w.id == c.id
        assert w.embedding == pytest.approx(c.embedding, abs=1e-6)


def test_cache_true_uses_the_default_path_and_close_releases_it() -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", cache=True, progress_bar=False)
    embedder.run(docs(3))
    assert (Path.cwd() / ".hayswitch" / "cache.sqlite").is_file()
    embedder.close()
    assert embedder._cache_instance is None
    embedder.close()  # idempotent
    assert embedder.run(docs(3))["meta"]["cache"]["hits"] == 3  # reopens on use


def test_cache_is_off_by_default() -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", progress_bar=False)
    out = embedder.run(docs(3))
    assert "cache" not in out["meta"]
    assert not (Path.cwd() / ".hayswitch").exists()


@pytest.mark.parametrize("bad", [3, "", ["x"]])
def test_invalid_cache_values(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="cache must be"):
        ProviderDocumentEmbedder(provider="fake", cache=bad)  # type: ignore[arg-type]


def test_text_embedder_cache(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.sqlite")
    embedder = ProviderTextEmbedder(provider="fake", cache=path)
    first = embedder.run("what is hayswitch?")
    second = embedder.run("what is hayswitch?")
    assert first["meta"]["cache"] == {"hits": 0, "misses": 1}
    assert second["meta"]["cache"] == {"hits": 1, "misses": 0}
    assert requests(embedder) == 1
    assert second["embedding"] == pytest.approx(first["embedding"], abs=1e-6)
    # queries and documents live in different namespaces
    doc_out = ProviderDocumentEmbedder(provider="fake", cache=path, progress_bar=False).run(
        [Document(content="what is hayswitch?")]
    )
    assert doc_out["meta"]["cache"] == {"hits": 0, "misses": 1}


async def test_text_embedder_cache_async(tmp_path: Path) -> None:
    embedder = ProviderTextEmbedder(provider="fake", cache=str(tmp_path / "c.sqlite"))
    await embedder.run_async("query")
    assert (await embedder.run_async("query"))["meta"]["cache"] == {"hits": 1, "misses": 0}


def test_cache_and_retry_round_trip_through_pipeline_yaml(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.sqlite")
    pipeline = Pipeline()
    pipeline.add_component(
        "embedder",
        ProviderDocumentEmbedder(provider="fake", cache=path, retry=RetryPolicy(max_attempts=7, jitter=False)),
    )
    pipeline.add_component("query", ProviderTextEmbedder(provider="fake", cache=True, retry={"max_total_wait": 30}))
    yaml = pipeline.dumps()
    assert "max_attempts: 7" in yaml
    assert path in yaml
    loaded = Pipeline.loads(yaml)
    embedder = cast(ProviderDocumentEmbedder, loaded.get_component("embedder"))
    assert embedder.cache == path
    assert embedder.retry == RetryPolicy(max_attempts=7, jitter=False)
    query = cast(ProviderTextEmbedder, loaded.get_component("query"))
    assert query.cache is True
    assert query.retry == RetryPolicy(max_total_wait=30)


# --------------------------------------------------------------------------- retry info


def test_retries_are_counted_in_the_embedder_meta() -> None:
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_first": 2, "fail_with": "rate_limit", "retry_after": 0},
        retry=FAST,
        progress_bar=False,
        max_concurrency=1,
    )
    out = embedder.run(docs(10))
    assert out["meta"]["retries"] == 2
    assert len(out["documents"]) == 10


# --------------------------------------------------------------------------- fallbacks


def _failing() -> dict[str, object]:
    return {"fail_first": 10_000, "fail_with": "server"}


def test_chat_generator_falls_back_and_says_why() -> None:
    llm = ProviderChatGenerator(
        provider="fake",
        settings=_failing(),
        retry=FAST,
        fallbacks=[{"provider": "fake", "settings": {"chat_model": "backup-chat"}, "label": "backup"}],
    )
    reply = llm.run([ChatMessage.from_user("hello")])["replies"][0]
    assert reply.text == "Echo: hello"
    assert reply.meta["model"] == "backup-chat"
    assert reply.meta["fallback"]["used"] == "backup"
    assert reply.meta["fallback"]["skipped"][0]["error"] == "ServerError"
    assert requests(llm) == 3  # the primary used its whole retry budget first


def test_streaming_fallback_meta() -> None:
    chunks: list[StreamingChunk] = []
    llm = ProviderGenerator(provider="fake", settings=_failing(), retry=FAST, fallbacks=["fake"])
    out = llm.run("stream this please", streaming_callback=chunks.append)
    assert out["replies"] == ["Echo: stream this please"]
    assert out["meta"][0]["fallback"]["position"] == 1
    assert chunks[0].meta["fallback"]["used"] == "fake"


async def test_async_fallback() -> None:
    llm = ProviderChatGenerator(provider="fake", settings=_failing(), retry=FAST, fallbacks=["fake"])
    reply = (await llm.run_async([ChatMessage.from_user("async")]))["replies"][0]
    assert reply.meta["fallback"]["position"] == 1


def test_generators_without_fallbacks_are_unchanged() -> None:
    reply = ProviderChatGenerator(provider="fake").run([ChatMessage.from_user("x")])["replies"][0]
    assert "fallback" not in reply.meta


def test_fallbacks_serialise_and_fail_early() -> None:
    llm = ProviderChatGenerator(provider="fake", fallbacks=["fake", {"provider": "fake", "settings": {"dimension": 8}}])
    data = llm.to_dict()
    assert data["init_parameters"]["fallbacks"] == ["fake", {"provider": "fake", "settings": {"dimension": 8}}]
    assert ProviderChatGenerator.from_dict(data).fallbacks == data["init_parameters"]["fallbacks"]
    with pytest.raises(ProviderNotFoundError, match="nope"):
        ProviderChatGenerator(provider="fake", fallbacks=["nope"])
    with pytest.raises(ConfigurationError, match="fallbacks must be a list"):
        ProviderGenerator(provider="fake", fallbacks="fake")  # type: ignore[arg-type]


def test_profile_fallbacks_apply_unless_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hayswitch.toml").write_text(
        """
[profiles.prod]
provider = "fake"
fallbacks = ["dev"]
settings = { fail_first = 10000, fail_with = "timeout" }

[profiles.dev]
provider = "fake"
settings = { chat_model = "dev-chat" }
"""
    )
    monkeypatch.chdir(tmp_path)
    llm = ProviderChatGenerator(profile="prod", retry=FAST)
    assert llm.run([ChatMessage.from_user("x")])["replies"][0].meta["model"] == "dev-chat"
    llm.close()
    strict = ProviderChatGenerator(profile="prod", retry=FAST, fallbacks=[])
    with pytest.raises(Exception, match="Injected failure"):
        strict.run([ChatMessage.from_user("x")])


# --------------------------------------------------------------------------- embedding fallbacks


def test_document_embedder_falls_back_within_one_embedding_space() -> None:
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_on": ["unlucky"], "fail_with": "server"},
        retry=FAST,
        fallbacks=[{"provider": "fake", "label": "twin"}],
        batch_size=4,
        max_concurrency=1,
        progress_bar=False,
    )
    corpus = docs(12)
    corpus[5] = Document(id="d5", content="an unlucky passage")
    out = embedder.run(corpus)
    assert [d.id for d in out["documents"]] == [d.id for d in corpus]
    assert out["documents"][5].embedding == fake_embedding("an unlucky passage", 64)
    assert out["meta"]["fallback"] == {
        "batches_by_member": {"fake": 2, "twin": 1},
        "batches_skipped_by_member": {"fake": 1},
    }
    assert embedder.to_dict()["init_parameters"]["fallbacks"] == [{"provider": "fake", "label": "twin"}]


def test_embedding_fallback_across_spaces_is_refused_at_warm_up() -> None:
    embedder = ProviderDocumentEmbedder(
        provider="fake", fallbacks=[{"provider": "fake", "settings": {"dimension": 32}}], progress_bar=False
    )
    with pytest.raises(ConfigurationError, match="Embedding fallback refused"):
        embedder.warm_up()
    query = ProviderTextEmbedder(
        provider="fake", fallbacks=[{"provider": "fake", "settings": {"embedding_model": "x"}}]
    )
    with pytest.raises(ConfigurationError, match="Embedding fallback refused"):
        query.warm_up()


def test_text_embedder_fallback_meta() -> None:
    query = ProviderTextEmbedder(
        provider="fake", settings={"fail_first": 99}, retry=FAST, fallbacks=[{"provider": "fake", "label": "twin"}]
    )
    out = query.run("where is it?")
    assert out["meta"]["fallback"]["used"] == "twin"
    assert out["embedding"] == fake_embedding("where is it?", 64)


def test_profile_fallbacks_do_not_apply_to_embedders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hayswitch.toml").write_text(
        """
[profiles.prod]
provider = "fake"
fallbacks = ["other"]

[profiles.other]
provider = "fake"
settings = { dimension = 8 }
"""
    )
    monkeypatch.chdir(tmp_path)
    embedder = ProviderDocumentEmbedder(profile="prod", progress_bar=False)
    embedder.warm_up()  # the generation fallback to another embedding space is not used here
    assert "fallback" not in embedder.run(docs(2))["meta"]
