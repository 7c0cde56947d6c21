"""The local provider's ONNX Runtime backend: same vectors as PyTorch, a checked int8 graph, an
on-disk cache that is reused, and clear fallbacks.

The export runs once per machine and toolchain (the graph is cached in the user cache directory),
so only the first run of this module pays for it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hayswitch import ConfigurationError, SettingsError

pytestmark = [pytest.mark.slow]

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "  leading and trailing spaces are stripped like sentence-transformers does  ",
    "ok",
    "Ünïcödé text, émojis 🚀 and CJK 東京 are tokenized by the same tokenizer.",
    "Vector search " * 300,  # far beyond the 256-token window: truncated the same way
    "How do I configure the embedding cache for a Haystack pipeline?",
    "Retry-After headers tell the client how long to wait before the next attempt.",
]


def _local(**settings: Any) -> Any:
    from hayswitch_local import LocalProvider

    return LocalProvider(settings)


def _vectors(provider: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(provider.embed_documents(texts).vectors, dtype=np.float64)


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return _vectors(_local(embedding_backend="torch"), TEXTS)


def test_onnx_fp32_vectors_match_pytorch(torch_vectors: np.ndarray) -> None:
    provider = _local(embedding_backend="onnx")
    got = _vectors(provider, TEXTS)
    engine, loaded = provider.embedding_engine()
    assert engine == "onnx-fp32"
    cosines = np.sum(got * torch_vectors, axis=1)
    assert cosines.min() >= 0.9999, cosines
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert loaded.model.quality["fp32_vs_torch_min_cosine"] >= 0.9999
    # query embeddings go through the same graph
    query = provider.embed_text(TEXTS[0]).vector
    assert float(np.dot(query, torch_vectors[0])) >= 0.9999


def test_onnx_int8_is_used_only_when_it_passes_the_quality_check(torch_vectors: np.ndarray) -> None:
    from hayswitch_local.onnx_backend import INT8_MIN_MEAN_COSINE

    provider = _local(embedding_backend="onnx-int8")
    got = _vectors(provider, TEXTS)
    engine, loaded = provider.embedding_engine()
    quality = loaded.model.quality
    assert "int8_vs_fp32_mean_cosine" in quality
    if quality["int8_accepted"]:
        assert engine == "onnx-int8"
        assert quality["int8_vs_fp32_mean_cosine"] >= INT8_MIN_MEAN_COSINE
        assert float(np.mean(np.sum(got * torch_vectors, axis=1))) >= 0.98
    else:  # refused on this CPU: fp32 serves
        assert engine == "onnx-fp32"
        assert np.sum(got * torch_vectors, axis=1).min() >= 0.9999


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_a_vector_does_not_depend_on_the_other_texts_of_the_call(backend: str) -> None:
    """Each text is its own call, so a text embedded alone, in a batch, in another order or with
    several worker threads gives exactly the same vector (the contract's determinism)."""
    alone = [np.asarray(_local(embedding_backend=backend).embed_text(t).vector) for t in TEXTS[:3]]
    for threads in (1, 3):
        provider = _local(embedding_backend=backend, embedding_threads=threads)
        batched = _vectors(provider, list(reversed(TEXTS)))[::-1]
        for i in range(3):
            assert np.array_equal(batched[i].astype(np.float32), alone[i].astype(np.float32)), (backend, threads, i)


def test_the_exported_graph_is_fused() -> None:
    """The export is run through ONNX Runtime's transformer optimizer: one Attention kernel per
    layer of all-MiniLM-L6-v2 (6), which is where the speed over PyTorch comes from."""
    _, loaded = _local(embedding_backend="onnx").embedding_engine()
    import json

    meta = json.loads(loaded.model.path.with_suffix(".json").read_text())
    assert meta["fused"].get("Attention") == 6, meta["fused"]
    assert meta["quality"]["fused_vs_torch_min_cosine"] >= 0.9999


def test_retrieval_fixture_ranks_the_same_on_every_backend() -> None:
    """The retrieval fixture's top-3 hits (tests/local/test_retrieval.py's 22 questions) are the
    same with PyTorch, fp32 ONNX and int8 ONNX vectors."""
    import json

    data = json.loads((Path(__file__).parents[1] / "fixtures" / "retrieval" / "retrieval.json").read_text())
    passages = [p["text"] for p in data["passages"]]
    ids = [p["id"] for p in data["passages"]]
    scores = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        provider = _local(embedding_backend=backend)
        matrix = _vectors(provider, passages)
        hits = 0
        for item in data["questions"]:
            query = np.asarray(provider.embed_text(item["question"]).vector)
            top3 = [ids[i] for i in np.argsort(-(matrix @ query))[:3]]
            hits += item["passage"] in top3
        scores[backend] = hits
    assert scores["onnx"] == scores["torch"], scores
    assert scores["onnx-int8"] == scores["torch"], scores


def test_int8_vectors_are_cached_apart_from_fp32() -> None:
    assert "numerics" not in _local(embedding_backend="onnx").vector_settings_fingerprint()
    assert "numerics" not in _local(embedding_backend="torch").vector_settings_fingerprint()
    assert _local(embedding_backend="onnx-int8").vector_settings_fingerprint()["numerics"] == "int8"


def test_the_exported_graph_is_cached_on_disk_and_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hayswitch_local import onnx_backend
    from hayswitch_local.models import resolve_embedding_model
    from hayswitch_local.provider import DEFAULT_EMBEDDING_MODEL

    model_dir = resolve_embedding_model(DEFAULT_EMBEDDING_MODEL)
    _local(embedding_backend="onnx").embedding_engine()  # make sure the user-level cache holds it
    source = onnx_backend.cache_root() / onnx_backend._model_key(model_dir)
    assert (source / "model.onnx").is_file()
    assert (source / "model.json").is_file()

    # A copy of that folder under another cache root: loading from it must not export again.
    monkeypatch.setenv("HAYSWITCH_CACHE_DIR", str(tmp_path))
    target = onnx_backend.cache_root() / onnx_backend._model_key(model_dir)
    target.mkdir(parents=True)
    for name in ("model.onnx", "model.json"):
        shutil.copy2(source / name, target / name)

    def no_export(*args: Any) -> Any:
        raise AssertionError("exported again although the cached graph is there")

    monkeypatch.setattr(onnx_backend, "_export_fp32", no_export)
    embedder = onnx_backend.load_onnx_embedder(model_dir, "fp32")
    assert embedder.path == target / "model.onnx"
    assert embedder.encode(["cached graph"]).shape == (1, 384)


def test_a_refused_int8_graph_falls_back_to_fp32_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from hayswitch_local import onnx_backend
    from hayswitch_local.models import resolve_embedding_model
    from hayswitch_local.provider import DEFAULT_EMBEDDING_MODEL

    model_dir = resolve_embedding_model(DEFAULT_EMBEDDING_MODEL)
    _local(embedding_backend="onnx").embedding_engine()
    source = onnx_backend.cache_root() / onnx_backend._model_key(model_dir)
    monkeypatch.setenv("HAYSWITCH_CACHE_DIR", str(tmp_path))
    target = onnx_backend.cache_root() / onnx_backend._model_key(model_dir)
    target.mkdir(parents=True)
    for name in ("model.onnx", "model.json"):
        shutil.copy2(source / name, target / name)
    monkeypatch.setattr(onnx_backend, "INT8_MIN_MEAN_COSINE", 1.01)  # no quantized graph can pass this
    with caplog.at_level(logging.WARNING, logger="hayswitch_local.onnx"):
        embedder = onnx_backend.load_onnx_embedder(model_dir, "int8")
    assert embedder.variant == "fp32"
    assert embedder.path == target / "model.onnx"
    assert embedder.quality["int8_accepted"] is False
    assert "refused" in caplog.text
    assert not list(target.glob("model.int8*.onnx"))  # the refused graph is not kept
    assert list(target.glob("model.int8*.json"))  # but the verdict is, so it is not rebuilt each start
    # the default (auto) only prefers int8: its fallback is not worth a warning on every start
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hayswitch_local.onnx"):
        embedder = onnx_backend.load_onnx_embedder(model_dir, "int8", explicit=False)
    assert embedder.variant == "fp32"
    assert [r.levelno for r in caplog.records if "refused" in r.getMessage()] == [logging.INFO]


def test_auto_falls_back_to_pytorch_when_onnx_cannot_be_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hayswitch_local import provider as provider_module

    def broken(path: Path, variant: str, *, explicit: bool = True) -> Any:
        raise ConfigurationError("simulated export failure")

    monkeypatch.setattr(provider_module, "load_onnx", broken)
    monkeypatch.setattr(provider_module, "_ONNX_REFUSED", set())
    with caplog.at_level(logging.WARNING, logger="hayswitch_local"):
        engine, _ = _local(embedding_backend="auto").embedding_engine()
    assert engine == "torch"
    assert "simulated export failure" in caplog.text
    with pytest.raises(ConfigurationError, match="simulated export failure"):
        _local(embedding_backend="onnx").embedding_engine()


def test_auto_uses_pytorch_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    from hayswitch_local import provider as provider_module

    monkeypatch.setattr(provider_module, "_onnx_installed", lambda: False)
    engine, _ = _local(embedding_backend="auto").embedding_engine()
    assert engine == "torch"


def test_onnx_needs_the_cpu() -> None:
    with pytest.raises(SettingsError, match="CPU"):
        _local(embedding_backend="onnx", device="cuda")
    with pytest.raises(SettingsError):
        _local(embedding_backend="tensorrt")
