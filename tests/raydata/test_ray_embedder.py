"""hayswitch.ray.HayswitchEmbedder called directly (no Ray cluster): the per-batch contract that
Ray Data's map_batches relies on -- order, ids, failed records, provenance, cache, configuration."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from hayswitch import InvalidInputError, ProviderNotFoundError, SettingsError, UnsupportedOperation
from hayswitch.cache import EmbeddingCache
from hayswitch.providers.fake import fake_embedding
from hayswitch.ray import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED, HayswitchEmbedder

TEXTS = [f"passage number {i} about topic {i % 3}" for i in range(10)]


def batch(texts: list[str | None], ids: list[str] | None = None) -> dict[str, np.ndarray]:
    ids = ids or [f"id-{i}" for i in range(len(texts))]
    return {"id": np.array(ids), "text": np.array(texts, dtype=object)}


def test_keeps_order_ids_and_columns_and_embeds_like_the_provider() -> None:
    embedder = HayswitchEmbedder(provider="fake", settings={"dimension": 16}, request_batch_size=3, max_concurrency=3)
    ids = [f"doc-{9 - i}" for i in range(10)]  # not sorted: order must follow the input, not the ids
    data = batch(list(TEXTS), ids)
    data["year"] = np.arange(10)
    out = embedder(data)
    assert out["id"].tolist() == ids
    assert out["year"].tolist() == list(range(10))
    assert out["text"].tolist() == TEXTS
    assert out["embedding_status"].tolist() == [STATUS_OK] * 10
    for text, vector in zip(TEXTS, out["embedding"], strict=True):
        assert vector == fake_embedding(text, 16)  # exactly the provider's floats
    assert out["embedding_error"].tolist() == [None] * 10
    # The provenance keys ProviderDocumentEmbedder writes into meta, here as columns.
    assert out["embedding_provider"].tolist() == ["fake"] * 10
    assert out["embedding_model"].tolist() == ["fake-embed"] * 10
    assert out["embedding_dimension"].tolist() == [16] * 10
    embedder.close()
    embedder.close()  # idempotent


def test_a_failed_request_fails_only_its_records(caplog: pytest.LogCaptureFixture) -> None:
    embedder = HayswitchEmbedder(
        provider="fake",
        settings={"dimension": 8, "fail_on": ["poison"], "fail_with": "rate_limit"},
        retry={"max_attempts": 2, "initial_wait": 0, "max_wait": 0, "jitter": False},
        request_batch_size=2,
    )
    texts: list[str | None] = ["a one", "b two", "c poison", "d four", "   ", None, "e five"]
    with caplog.at_level(logging.WARNING, logger="hayswitch.ray"):
        out = embedder(batch(texts))
    # Requests of 2 non-empty texts: [a, b] ok, [c poison, d] failed, [e] ok; blanks skipped.
    assert out["embedding_status"].tolist() == [
        STATUS_OK,
        STATUS_OK,
        STATUS_FAILED,
        STATUS_FAILED,
        STATUS_SKIPPED,
        STATUS_SKIPPED,
        STATUS_OK,
    ]
    errors = out["embedding_error"].tolist()
    assert errors[2] == errors[3]
    assert errors[2].startswith("RateLimitError: ")
    assert errors[:2] == [None, None]
    assert errors[4:] == [None, None, None]
    assert out["embedding"][2] is None
    assert out["embedding"][4] is None
    assert out["embedding"][6] == fake_embedding("e five", 8)
    assert out["embedding_provider"].tolist() == ["fake", "fake", None, None, None, None, "fake"]
    assert "2 record(s) failed" in caplog.text
    assert "id-2, id-3" in caplog.text
    assert embedder.provider.requests == 1 + 2 + 1  # type: ignore[union-attr]  # the failing request was retried once


def test_composes_text_like_the_document_embedder_and_shares_its_cache(tmp_path: Path) -> None:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    cache = tmp_path / "cache.sqlite"
    docs = [Document(content=t, meta={"heading": f"H{i}"}) for i, t in enumerate(TEXTS[:4])]
    component = ProviderDocumentEmbedder(
        provider="fake", meta_fields_to_embed=["heading"], prefix="p: ", progress_bar=False, cache=str(cache)
    )
    expected = component.run(docs)["documents"]
    component.close()

    embedder = HayswitchEmbedder(provider="fake", meta_fields_to_embed=["heading"], prefix="p: ", cache=str(cache))
    data = batch([d.content for d in docs], [d.id for d in docs])
    data["heading"] = np.array([d.meta["heading"] for d in docs])
    out = embedder(data)
    embedder.close()
    # Served from the cache, which stores float32: the component's vectors, rounded to float32.
    assert [np.asarray(v, dtype=np.float32).tolist() for v in out["embedding"]] == [
        np.asarray(d.embedding, dtype=np.float32).tolist() for d in expected
    ]
    for doc in expected:  # same provenance values as the component's meta
        assert doc.meta["embedding_provider"] == "fake"
        assert doc.meta["embedding_dimension"] == 64
    with EmbeddingCache(cache) as opened:
        assert len(opened) == 4  # same namespace and texts: the Ray path added no entry ...
    # ... and a fresh embedder makes no provider request for them.
    fresh = HayswitchEmbedder(provider="fake", meta_fields_to_embed=["heading"], prefix="p: ", cache=str(cache))
    fresh(data)
    assert fresh.provider.requests == 0  # type: ignore[union-attr]
    fresh.close()


def test_pandas_and_arrow_batches() -> None:
    embedder = HayswitchEmbedder(provider="fake", settings={"dimension": 4}, id_column=None)
    frame = pd.DataFrame({"text": ["x y", None, "z"]}, index=[7, 8, 9])
    out = embedder(frame)
    assert isinstance(out, pd.DataFrame)
    assert out.index.tolist() == [7, 8, 9]
    assert out["embedding_status"].tolist() == [STATUS_OK, STATUS_SKIPPED, STATUS_OK]
    assert out["embedding"][9] == fake_embedding("z", 4)
    table = pa.table({"text": ["x y", "z"]})
    out2 = embedder(table)
    assert list(out2["embedding"]) == [fake_embedding("x y", 4), fake_embedding("z", 4)]


def test_an_input_column_named_like_an_output_is_replaced() -> None:
    data = batch(["hello"])
    data["embedding"] = np.zeros((1, 3))
    out = HayswitchEmbedder(provider="fake", settings={"dimension": 4})(data)
    assert out["embedding"][0] == fake_embedding("hello", 4)


def test_resolves_the_provider_from_the_environment_and_profiles(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    monkeypatch.setenv("HAYSWITCH_FAKE__DIMENSION", "12")
    assert HayswitchEmbedder()(batch(["hi"]))["embedding_dimension"].tolist() == [12]
    monkeypatch.delenv("HAYSWITCH_PROVIDER")
    monkeypatch.delenv("HAYSWITCH_FAKE__DIMENSION")
    (tmp_path / "hayswitch.toml").write_text(
        '[profiles.small]\nprovider = "fake"\n[profiles.small.settings]\ndimension = 6\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    out = HayswitchEmbedder(profile="small", model="other-model")(batch(["hi"]))
    assert out["embedding_dimension"].tolist() == [6]
    assert out["embedding_model"].tolist() == ["other-model"]


def test_configuration_errors_fail_at_construction() -> None:
    with pytest.raises(ProviderNotFoundError):
        HayswitchEmbedder(provider="no-such-provider")
    with pytest.raises(SettingsError):
        HayswitchEmbedder(provider="fake", settings={"dimension": -1})
    with pytest.raises(SettingsError, match="conflicts"):
        HayswitchEmbedder(provider="fake", settings={"embedding_model": "a"}, model="b")
    with pytest.raises(InvalidInputError, match="max_concurrency"):
        HayswitchEmbedder(provider="fake", max_concurrency=0)
    with pytest.raises(InvalidInputError, match="request_batch_size"):
        HayswitchEmbedder(provider="fake", request_batch_size=0)


def test_unsupported_provider_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from hayswitch.providers.fake import FakeProvider

    caps = FakeProvider.capabilities.model_copy(update={"embeddings": False})
    monkeypatch.setattr(FakeProvider, "capabilities", caps)
    with pytest.raises(UnsupportedOperation, match="embeddings"):
        HayswitchEmbedder(provider="fake")


def test_bad_batches_say_what_is_wrong() -> None:
    embedder = HayswitchEmbedder(provider="fake")
    with pytest.raises(InvalidInputError, match=r"no column.*'id'.*id_column=None"):
        embedder({"text": np.array(["a"])})
    with pytest.raises(InvalidInputError, match="'body'"):
        HayswitchEmbedder(provider="fake", text_column="body")(batch(["a"]))
    with pytest.raises(InvalidInputError, match="must hold strings"):
        embedder({"id": np.array(["a"]), "text": np.array([3])})
    with pytest.raises(InvalidInputError, match="differ in length"):
        embedder({"id": ["a", "b"], "text": ["x"]})
    with pytest.raises(InvalidInputError, match="dict of columns"):
        embedder(["a", "b"])


def test_empty_batch() -> None:
    out = HayswitchEmbedder(provider="fake")({"id": np.array([], dtype=str), "text": np.array([], dtype=object)})
    assert len(out["embedding"]) == 0
    assert len(out["embedding_status"]) == 0
