"""ProviderDocumentEmbedder on the fake provider: every option, policy and error path, sync and async."""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from typing import Any

import pytest
from haystack import Document

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
from hayswitch import EmbeddingFailedError, EmbeddingResult, InvalidInputError, Provider, ServerError
from hayswitch.providers.fake import fake_embedding

from .conftest import NO_RETRY


def _docs(n: int, marker: str = "") -> list[Document]:
    return [Document(content=f"document number {i} about topic {i % 3} {marker}".strip()) for i in range(n)]


def _run(embedder: ProviderDocumentEmbedder, docs: list[Document], mode: str) -> dict[str, Any]:
    if mode == "async":
        return asyncio.run(embedder.run_async(docs))
    return embedder.run(docs)


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
def test_embeds_in_input_order_with_provenance_and_new_documents(mode: str) -> None:
    docs = _docs(5)
    before = copy.deepcopy(docs)
    embedder = ProviderDocumentEmbedder(provider="fake", progress_bar=False)
    out = _run(embedder, docs, mode)

    assert [d.id for d in out["documents"]] == [d.id for d in docs]
    for src, doc in zip(docs, out["documents"], strict=True):
        assert doc is not src
        assert doc.embedding == fake_embedding(src.content or "", 64)
        assert doc.meta == {"embedding_provider": "fake", "embedding_model": "fake-embed", "embedding_dimension": 64}
    assert docs == before  # inputs untouched
    assert all(d.embedding is None and d.meta == {} for d in docs)
    assert out["failed_documents"] == []
    meta = out["meta"]
    assert meta["provider"] == "fake"
    assert meta["model"] == "fake-embed"
    assert meta["dimension"] == 64
    assert meta["counts"] == {"documents": 5, "embedded": 5, "skipped": 0, "failed": 0}
    assert meta["usage"]["prompt_tokens"] == sum(len((d.content or "").split()) for d in docs)
    assert meta["usage"]["total_tokens"] == meta["usage"]["prompt_tokens"]


@pytest.mark.parametrize("mode", MODES)
def test_meta_fields_separator_prefix_suffix_shape_the_embedded_text(mode: str) -> None:
    doc = Document(content="the body", meta={"title": "A Title", "year": 2024, "missing": None})
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        progress_bar=False,
        meta_fields_to_embed=["title", "missing", "absent", "year"],
        embedding_separator=" | ",
        prefix="passage: ",
        suffix=" [end]",
    )
    (out,) = _run(embedder, [doc], mode)["documents"]
    assert out.embedding == fake_embedding("passage: A Title | 2024 | the body [end]", 64)
    assert out.meta["title"] == "A Title"


def test_batch_size_is_the_number_of_texts_per_request() -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", batch_size=3, max_concurrency=1, progress_bar=False)
    out = embedder.run(_docs(10))
    provider = embedder.provider_instance
    assert provider is not None
    assert provider.requests == 4  # type: ignore[attr-defined]
    assert out["meta"]["batches"] == 4
    assert out["meta"]["batch_size"] == 3


@pytest.mark.parametrize("mode", MODES)
def test_batch_size_is_capped_at_the_providers_maximum(alt: type[Provider], mode: str) -> None:
    embedder = ProviderDocumentEmbedder(provider="alt", batch_size=100, progress_bar=False)
    out = _run(embedder, _docs(7), mode)
    provider = embedder.provider_instance
    assert sorted(len(b) for b in provider.batches) == [1, 3, 3]  # type: ignore[union-attr]
    assert out["meta"]["batch_size"] == 3
    assert out["meta"]["max_concurrency"] == 2  # alt declares 2
    assert out["documents"][0].meta["embedding_provider"] == "alt"


def test_max_concurrency_defaults_to_the_providers_declaration() -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", batch_size=1, progress_bar=False)
    assert embedder.run(_docs(10))["meta"]["max_concurrency"] == 4  # fake declares 4
    embedder = ProviderDocumentEmbedder(provider="fake", batch_size=1, max_concurrency=2, progress_bar=False)
    assert embedder.run(_docs(10))["meta"]["max_concurrency"] == 2
    # never more workers than batches
    assert embedder.run(_docs(1))["meta"]["max_concurrency"] == 1


class _InFlight(ProviderDocumentEmbedder):
    """Records how many batches were in flight at once (through the cache seam)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def _enter(self) -> None:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def _leave(self) -> None:
        with self.lock:
            self.current -= 1

    def _embed_texts(self, provider: Provider, texts: list[str]) -> EmbeddingResult:
        self._enter()
        try:
            return super()._embed_texts(provider, texts)
        finally:
            self._leave()

    async def _aembed_texts(self, provider: Provider, texts: list[str]) -> EmbeddingResult:
        self._enter()
        try:
            return await super()._aembed_texts(provider, texts)
        finally:
            self._leave()


@pytest.mark.parametrize("mode", MODES)
def test_concurrent_batches_overlap_and_keep_input_order(mode: str) -> None:
    docs = _docs(12)
    embedder = _InFlight(
        provider="fake", settings={"latency": 0.05}, batch_size=2, max_concurrency=3, progress_bar=False
    )
    out = _run(embedder, docs, mode)
    assert embedder.peak > 1  # batches really overlapped
    assert embedder.peak <= 3  # bounded by max_concurrency
    assert [d.id for d in out["documents"]] == [d.id for d in docs]
    assert [d.embedding for d in out["documents"]] == [fake_embedding(d.content or "", 64) for d in docs]


def test_sync_and_async_give_identical_outputs() -> None:
    docs = [*_docs(9), Document(content=None), Document(content="  ")]
    options = {"provider": "fake", "batch_size": 2, "progress_bar": False, "meta_fields_to_embed": ["x"]}
    sync = ProviderDocumentEmbedder(**options).run(docs)
    asynchronous = asyncio.run(ProviderDocumentEmbedder(**options).run_async(docs))
    assert sync == asynchronous


@pytest.mark.parametrize("mode", MODES)
def test_documents_without_content_are_returned_unembedded_with_a_warning(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [Document(content="real text"), Document(content=None, meta={"k": 1}), Document(content=" \n ")]
    embedder = ProviderDocumentEmbedder(provider="fake", progress_bar=False)
    with caplog.at_level(logging.WARNING):
        out = _run(embedder, docs, mode)
    assert [d.id for d in out["documents"]] == [d.id for d in docs]
    assert out["documents"][0].embedding is not None
    assert out["documents"][1].embedding is None
    assert out["documents"][1].meta == {"k": 1}
    assert out["documents"][2].embedding is None
    assert "embedding_provider" not in out["documents"][2].meta
    assert out["documents"][1] is not docs[1]
    assert out["meta"]["skipped_ids"] == [docs[1].id, docs[2].id]
    assert out["meta"]["counts"]["skipped"] == 2
    assert "no content" in caplog.text
    assert docs[1].id in caplog.text
    provider = embedder.provider_instance
    assert provider is not None
    assert provider.embedded_texts == 1


@pytest.mark.parametrize("mode", MODES)
def test_failure_raises_naming_the_failed_documents(mode: str) -> None:
    docs = [Document(content="fine one"), Document(content="BOOM here"), Document(content="fine two")]
    embedder = ProviderDocumentEmbedder(
        provider="fake", settings={"fail_on": ["BOOM"]}, retry=NO_RETRY, batch_size=2, progress_bar=False
    )
    with pytest.raises(EmbeddingFailedError) as info:
        _run(embedder, docs, mode)
    err = info.value
    assert set(err.failed_ids) == {docs[0].id, docs[1].id}  # the whole failing batch
    assert docs[1].id in str(err)
    assert "raise_on_failure=False" in str(err)
    assert isinstance(err.__cause__, ServerError)
    assert err.provider == "fake"
    assert err.status_code == 503


@pytest.mark.parametrize("mode", MODES)
def test_partial_failure_returns_failed_documents_with_the_error(mode: str) -> None:
    docs = [Document(content=f"text {i}" + (" BOOM" if i in (2, 5) else "")) for i in range(8)]
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_on": ["BOOM"]},
        retry=NO_RETRY,
        batch_size=2,
        raise_on_failure=False,
        progress_bar=False,
    )
    out = _run(embedder, docs, mode)
    failed_idx = [2, 3, 4, 5]  # batches [2,3] and [4,5] fail as a whole
    assert [d.id for d in out["failed_documents"]] == [docs[i].id for i in failed_idx]
    assert [d.id for d in out["documents"]] == [docs[i].id for i in (0, 1, 6, 7)]
    assert all(d.embedding is not None for d in out["documents"])
    for doc in out["failed_documents"]:
        assert doc.meta["embedding_error"].startswith("ServerError: [fake] Injected failure.")
        assert doc.embedding is None
    assert out["meta"]["failed_ids"] == [docs[i].id for i in failed_idx]
    assert out["meta"]["counts"] == {"documents": 8, "embedded": 4, "skipped": 0, "failed": 4}
    assert all("embedding_error" not in d.meta for d in docs)


def test_wrong_vector_count_is_a_failure_not_a_silent_none() -> None:
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_on": ["short"], "fail_with": "wrong_count"},
        retry=NO_RETRY,
        raise_on_failure=False,
        progress_bar=False,
    )
    out = embedder.run([Document(content="a short one"), Document(content="another")])
    assert out["documents"] == []
    assert len(out["failed_documents"]) == 2
    assert "ResponseError" in out["failed_documents"][0].meta["embedding_error"]


def test_retry_policy_is_applied_per_batch() -> None:
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_first": 1},
        retry={"max_attempts": 2, "initial_wait": 0},
        progress_bar=False,
    )
    out = embedder.run(_docs(2))
    assert out["meta"]["counts"]["embedded"] == 2
    provider = embedder.provider_instance
    assert provider is not None
    assert provider.requests == 2


@pytest.mark.parametrize("mode", MODES)
def test_provenance_can_be_switched_off(mode: str) -> None:
    doc = Document(content="x y", meta={"source": "a"})
    (out,) = _run(ProviderDocumentEmbedder(provider="fake", provenance=False, progress_bar=False), [doc], mode)[
        "documents"
    ]
    assert out.meta == {"source": "a"}
    assert out.embedding is not None


def test_model_option_sets_the_providers_embedding_model() -> None:
    doc = Document(content="same text")
    default = ProviderDocumentEmbedder(provider="fake", progress_bar=False).run([doc])["documents"][0]
    other = ProviderDocumentEmbedder(provider="fake", model="fake-embed-2", progress_bar=False).run([doc])
    assert other["documents"][0].meta["embedding_model"] == "fake-embed-2"
    assert other["meta"]["model"] == "fake-embed-2"
    assert other["documents"][0].embedding != default.embedding


def test_progress_bar_counts_documents(capsys: pytest.CaptureFixture[str]) -> None:
    ProviderDocumentEmbedder(provider="fake", batch_size=4, progress_bar=True).run([*_docs(9), Document(content=None)])
    err = capsys.readouterr().err
    assert "Embedding documents" in err
    assert "10/10" in err
    ProviderDocumentEmbedder(provider="fake", progress_bar=False).run(_docs(3))
    assert "Embedding documents" not in capsys.readouterr().err


def test_empty_input_gives_empty_outputs() -> None:
    out = ProviderDocumentEmbedder(provider="fake", progress_bar=False).run([])
    assert out["documents"] == []
    assert out["failed_documents"] == []
    assert out["meta"]["counts"] == {"documents": 0, "embedded": 0, "skipped": 0, "failed": 0}
    assert out["meta"]["dimension"] == 64


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a string", "Use ProviderTextEmbedder"),
        (["a", "b"], r"documents\[0\] is a str"),
        ([Document(content="ok"), {"content": "x"}], r"documents\[1\] is a dict"),
        (None, "takes a list of Documents"),
    ],
)
def test_wrong_input_types_are_refused(mode: str, value: Any, message: str) -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", progress_bar=False)
    with pytest.raises(InvalidInputError, match=message):
        _run(embedder, value, mode)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"meta_fields_to_embed": "title"}, "meta_fields_to_embed"),
        ({"prefix": 3}, "prefix"),
    ],
)
def test_invalid_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ProviderDocumentEmbedder(provider="fake", **kwargs)


def test_warm_up_is_idempotent_thread_safe_and_close_is_idempotent() -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", progress_bar=False)
    assert embedder.provider_instance is None  # nothing created in __init__
    threads = [threading.Thread(target=embedder.warm_up) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = embedder.provider_instance
    assert first is not None
    embedder.warm_up()
    assert embedder.provider_instance is first
    embedder.close()
    embedder.close()
    assert embedder.provider_instance is None
    assert embedder.run(_docs(1))["meta"]["counts"]["embedded"] == 1  # run warms up again
    assert embedder.provider_instance is not first
    asyncio.run(embedder.close_async())
    asyncio.run(embedder.close_async())
    assert embedder.provider_instance is None
