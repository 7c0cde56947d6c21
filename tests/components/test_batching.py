"""Batch size and concurrency have one owner: the provider instance.

For every combination of the component's ``batch_size`` and the provider's per-instance batch limit,
sync and async, the requests that reach the backend are exactly what ``meta`` reports, none is larger
than the limit, and no more than ``max_concurrency`` are ever in flight at once. Two backends: the
``fake`` provider (its ``max_batch_size`` setting acts like a small server: an over-size request fails)
and the ``openai`` provider against an OpenAI-compatible HTTP server on loopback that counts what it
receives (so sub-batches hidden inside a provider hook would show up as extra requests).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from haystack import Document

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
from hayswitch import get_provider
from hayswitch.providers.fake import FakeProvider

from .conftest import NO_RETRY

MODES = ["sync", "async"]
N_DOCS = 23


def _docs(n: int = N_DOCS) -> list[Document]:
    docs = [Document(content=f"passage {i} on subject {i % 5} with words {i * 7}") for i in range(n)]
    return [*docs[:4], Document(content="   "), *docs[4:]]  # an empty document is never sent


def _run(embedder: ProviderDocumentEmbedder, docs: list[Document], mode: str) -> dict[str, Any]:
    if mode == "async":
        return asyncio.run(embedder.run_async(docs))
    return embedder.run(docs)


def _expected_sizes(n: int, size: int) -> list[int]:
    return [min(size, n - start) for start in range(0, n, size)]


class _InFlight:
    """Counts calls in progress (threads or tasks) and remembers the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.sizes: list[int] = []

    def enter(self, size: int) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.sizes.append(size)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


# --------------------------------------------------------------------------- the provider owns the defaults


def test_provider_declares_limit_and_defaults_per_instance() -> None:
    plain = get_provider("fake")
    assert plain.max_batch_size == FakeProvider.capabilities.max_batch_size == 64
    assert plain.default_batch_size == 64
    assert plain.default_concurrency == FakeProvider.capabilities.max_concurrency
    small = get_provider("fake", max_batch_size=5)
    assert small.max_batch_size == 5
    assert small.default_batch_size == 5  # never above the instance's limit


def test_provider_embed_documents_splits_at_the_instance_limit() -> None:
    provider = get_provider("fake", max_batch_size=4)
    texts = [f"text {i}" for i in range(10)]
    result = provider.embed_documents(texts)
    assert len(result.vectors) == 10
    assert provider.requests == 3  # 4 + 4 + 2, each within the limit (the fake server refuses more)


@pytest.mark.parametrize("mode", MODES)
def test_component_uses_the_provider_defaults_when_unset(mode: str) -> None:
    embedder = ProviderDocumentEmbedder(provider="fake", settings={"max_batch_size": 6}, progress_bar=False)
    meta = _run(embedder, _docs(), mode)["meta"]
    provider = embedder.provider_instance
    assert provider is not None
    assert meta["batch_size"] == provider.default_batch_size == 6
    assert meta["max_concurrency"] == provider.default_concurrency
    assert meta["batches"] == meta["requests"] == math.ceil(N_DOCS / 6) == provider.requests


# --------------------------------------------------------------------------- every combination, fake provider


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("limit", [1, 3, 7, None])
@pytest.mark.parametrize("batch_size", [None, 1, 5, 100])
def test_requests_sent_equal_meta_fake(mode: str, limit: int | None, batch_size: int | None) -> None:
    settings = {} if limit is None else {"max_batch_size": limit}
    embedder = ProviderDocumentEmbedder(
        provider="fake", settings=settings, batch_size=batch_size, max_concurrency=3, progress_bar=False, retry=NO_RETRY
    )
    embedder.warm_up()
    provider = embedder.provider_instance
    assert isinstance(provider, FakeProvider)
    flight = _InFlight()
    original = provider._embed

    def counted(texts: list[str], *, input_type: Any) -> Any:
        flight.enter(len(texts))
        try:
            time.sleep(0.002)  # long enough for batches to overlap
            return original(texts, input_type=input_type)
        finally:
            flight.leave()

    provider._embed = counted  # type: ignore[method-assign]
    out = _run(embedder, _docs(), mode)
    meta = out["meta"]
    effective_limit = limit or 64
    size = min(batch_size or effective_limit, effective_limit)
    assert meta["batch_size"] == size
    assert flight.sizes
    assert max(flight.sizes) <= effective_limit
    assert sorted(flight.sizes) == sorted(_expected_sizes(N_DOCS, size))
    assert meta["requests"] == meta["batches"] == len(flight.sizes) == provider.requests
    assert meta["max_concurrency"] == min(3, meta["batches"])  # never more workers than batches
    assert flight.peak <= 3
    assert meta["counts"]["embedded"] == N_DOCS
    assert meta["counts"]["skipped"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_requests_include_retries(mode: str) -> None:
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_first": 2, "fail_with": "server", "max_batch_size": 10},
        retry={"max_attempts": 3, "initial_wait": 0.0, "max_wait": 0.0, "jitter": False},
        max_concurrency=1,
        progress_bar=False,
    )
    meta = _run(embedder, _docs(), mode)["meta"]
    provider = embedder.provider_instance
    assert provider is not None
    assert meta["batches"] == 3
    assert meta["retries"] == 2
    assert meta["requests"] == provider.requests == 5


@pytest.mark.parametrize("mode", MODES)
def test_cache_hits_send_no_request(mode: str, tmp_path: Any) -> None:
    cache = str(tmp_path / "cache.sqlite")
    first = ProviderDocumentEmbedder(provider="fake", cache=cache, batch_size=4, progress_bar=False)
    assert _run(first, _docs(), mode)["meta"]["requests"] == math.ceil(N_DOCS / 4)
    again = ProviderDocumentEmbedder(provider="fake", cache=cache, batch_size=4, progress_bar=False)
    meta = _run(again, _docs(), mode)["meta"]
    assert meta["requests"] == 0
    assert meta["cache"]["hits"] == N_DOCS


# --------------------------------------------------------------------------- every combination, over HTTP


class _EmbeddingServer:
    """A minimal OpenAI-compatible ``POST /v1/embeddings`` on loopback that records every request."""

    def __init__(self, delay: float = 0.005) -> None:
        self.flight = _InFlight()
        self.delay = delay
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                inputs = body.get("input") or []
                server_self.flight.enter(len(inputs))
                try:
                    time.sleep(server_self.delay)
                    data = [
                        {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, float(i % 3)]}
                        for i, t in enumerate(inputs)
                    ]
                    payload = json.dumps(
                        {
                            "object": "list",
                            "data": data,
                            "model": body.get("model"),
                            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
                        }
                    ).encode()
                finally:
                    server_self.flight.leave()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> _EmbeddingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def embedding_server() -> Iterator[_EmbeddingServer]:
    pytest.importorskip("openai")
    with _EmbeddingServer() as server:
        yield server


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("limit", [1, 4, 16, None])
@pytest.mark.parametrize("batch_size", [None, 1, 5, 100])
def test_requests_sent_equal_meta_openai_http(
    embedding_server: _EmbeddingServer, mode: str, limit: int | None, batch_size: int | None
) -> None:
    from hayswitch_openai.provider import MAX_BATCH_SIZE

    settings: dict[str, Any] = {
        "base_url": embedding_server.base_url,
        "api_key": None,
        "embedding_model": "counting-embedder",
        "check_models": False,
    }
    if limit is not None:
        settings["batch_size"] = limit
    embedder = ProviderDocumentEmbedder(
        provider="openai", settings=settings, batch_size=batch_size, max_concurrency=3, progress_bar=False
    )
    with embedding_server.flight.lock:
        embedding_server.flight.sizes.clear()
        embedding_server.flight.peak = 0
    try:
        meta = _run(embedder, _docs(), mode)["meta"]
    finally:
        embedder.close()
    effective_limit = limit or MAX_BATCH_SIZE
    size = min(batch_size or effective_limit, effective_limit)
    sizes = list(embedding_server.flight.sizes)
    assert meta["batch_size"] == size
    assert max(sizes) <= effective_limit
    assert sorted(sizes) == sorted(_expected_sizes(N_DOCS, size))
    assert meta["requests"] == meta["batches"] == len(sizes), f"meta {meta} but the server saw {sizes}"
    assert meta["max_concurrency"] == min(3, meta["batches"])
    assert embedding_server.flight.peak <= 3


@pytest.mark.parametrize("mode", MODES)
def test_openai_provider_embed_documents_one_request_per_batch(embedding_server: _EmbeddingServer, mode: str) -> None:
    provider = get_provider(
        "openai",
        base_url=embedding_server.base_url,
        api_key=None,
        embedding_model="counting-embedder",
        check_models=False,
        batch_size=4,
    )
    assert provider.max_batch_size == 4
    with embedding_server.flight.lock:
        embedding_server.flight.sizes.clear()
    texts = [f"text {i}" for i in range(10)]
    try:
        result = asyncio.run(provider.aembed_documents(texts)) if mode == "async" else provider.embed_documents(texts)
    finally:
        provider.close()
    assert len(result.vectors) == 10
    assert embedding_server.flight.sizes == [4, 4, 2]  # in order: the provider never fans out on its own


@pytest.mark.parametrize("mode", MODES)
def test_a_partly_cached_run_sends_only_the_misses_and_documents_match_a_cold_run(mode: str, tmp_path: Any) -> None:
    from dataclasses import replace

    cache = str(tmp_path / "cache.sqlite")
    docs = _docs()
    cold = _run(ProviderDocumentEmbedder(provider="fake", progress_bar=False), docs, mode)["documents"]
    warm_half = ProviderDocumentEmbedder(provider="fake", cache=cache, batch_size=4, progress_bar=False)
    _run(warm_half, docs[::2], mode)  # every other document is now cached
    embedder = ProviderDocumentEmbedder(provider="fake", cache=cache, batch_size=4, progress_bar=False)
    out = _run(embedder, docs, mode)
    meta = out["meta"]
    cached = sum(1 for d in docs[::2] if (d.content or "").strip())
    missing = N_DOCS - cached
    assert meta["cache"] == {"hits": cached, "misses": missing}
    assert meta["batches"] == meta["requests"] == math.ceil(missing / 4)
    provider = embedder.provider_instance
    assert provider is not None
    assert provider.embedded_texts == missing
    # float32 storage: cached vectors equal the cold ones to float32 precision, everything else exactly
    for got, ref, src in zip(out["documents"], cold, docs, strict=True):
        assert type(got) is Document
        assert got is not src
        assert got.id == ref.id
        assert got.content == ref.content
        assert got.meta == ref.meta
        if ref.embedding is None:
            assert got.embedding is None
        else:
            assert got.embedding == pytest.approx(ref.embedding, abs=1e-6)
            assert got == replace(src, embedding=got.embedding, meta=got.meta)
