"""Fault-injection suite: the Gradient emulator (a real HTTP server on 127.0.0.1, in a child
process) and the fake provider inject 429 bursts with Retry-After, 500/503, connection resets,
responses slower than the timeout, malformed JSON and a wrong number of vectors.

Guarantees checked: with retries every document is embedded exactly once, in input order, with
the vector of its own text; beyond the retry budget a typed error names the failed ids (or they
come out in ``failed_documents``); nothing leaks (threads, sockets, file descriptors); 200
concurrent ``run_async`` calls complete.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
from gradient_emulator import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_WORKSPACE_ID,
    EmulatorProcess,
    embedding,
    run_emulator,
)
from haystack import Document

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from hayswitch import (
    NO_RETRY,
    AuthenticationError,
    EmbeddingFailedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseError,
    RetryPolicy,
    ServerError,
    get_provider,
)
from hayswitch.providers.fake import fake_embedding
from hayswitch.retry import track_retries

pytestmark = pytest.mark.live

RETRY = {"max_attempts": 12, "initial_wait": 0.01, "max_wait": 0.05, "max_total_wait": 60}


@pytest.fixture(autouse=True)
def _no_tqdm_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    """tqdm's process-wide monitor thread is a library singleton, not a per-run resource; keep it
    out of the thread accounting."""
    from tqdm import tqdm

    monkeypatch.setattr(tqdm, "monitor_interval", 0)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """The Gradient emulator in its own process (own GIL), no latency, seeded fault RNG."""
    with run_emulator(mode="process", seed=7) as emu:
        assert isinstance(emu, EmulatorProcess)
        yield emu


@pytest.fixture
def emu(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    emulator.reset()
    emulator.configure(latency={"fixed": 0.0, "per_input": 0.0}, max_concurrency=None, concurrency_mode="queue")
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", DEFAULT_ACCESS_TOKEN)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", DEFAULT_WORKSPACE_ID)
    return emulator


def corpus(n: int, marker: str = "") -> list[Document]:
    return [Document(id=f"doc-{i:05d}", content=f"passage {i} on subject {i % 97} {marker}".strip()) for i in range(n)]


def expected(docs: list[Document]) -> np.ndarray:
    return np.array([embedding(d.content or "") for d in docs])


def gradient_embedder(emu: EmulatorProcess, **options: Any) -> ProviderDocumentEmbedder:
    settings = {"host": emu.api_url, "timeout": 30.0, **options.pop("settings", {})}
    options.setdefault("retry", RETRY)
    return ProviderDocumentEmbedder(provider="gradient", settings=settings, progress_bar=False, **options)


# --------------------------------------------------------------------------- leak accounting


@dataclass(frozen=True)
class Resources:
    """What this process holds: thread ids, TCP connections to the emulator (by socket inode),
    and file descriptors that are not sockets. Other in-process servers (a session-wide emulator
    of another test module) keep their own sockets; only connections to *our* emulator count."""

    threads: frozenset[int]
    emulator_connections: frozenset[str]
    other_fds: frozenset[str]


def _socket_peers() -> dict[str, int]:
    """socket inode -> remote port, from /proc/net/tcp and tcp6."""
    peers: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            peers[cols[9]] = int(cols[2].rsplit(":", 1)[1], 16)
    return peers


def _resources(port: int) -> Resources:
    threads = frozenset(t.ident for t in threading.enumerate() if t.ident is not None)
    peers = _socket_peers()
    connections, others = set(), set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, already closed
        if target.startswith("socket:["):
            inode = target[len("socket:[") : -1]
            if peers.get(inode) == port:
                connections.add(inode)
        else:
            others.add(f"{fd}->{target}")
    return Resources(threads, frozenset(connections), frozenset(others))


def assert_no_leaks(before: Resources, port: int) -> None:
    """No new thread, no connection to the emulator left open, no new file descriptor (closing is
    synchronous; finished threads get a moment to be reaped)."""
    deadline = time.monotonic() + 5
    while True:
        gc.collect()
        now = _resources(port)
        threads = now.threads - before.threads
        connections = now.emulator_connections - before.emulator_connections
        fds = now.other_fds - before.other_fds
        if not (threads or connections or fds) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    names = [t.name for t in threading.enumerate() if t.ident in threads]
    assert not threads, f"leaked threads: {names}"
    assert not connections, f"leaked connections to the emulator: {len(connections)}"
    assert not fds, f"leaked file descriptors: {sorted(fds)}"


def _port(emu: EmulatorProcess) -> int:
    return int(urlparse(emu.url).port or 0)


# --------------------------------------------------------------------------- emulator


FAULTS = [
    {"kind": "429", "rate": 0.35, "times": 10, "retry_after": 0.05, "endpoint": "embed"},  # bursts with Retry-After
    {"kind": "500", "times": 2, "skip": 2},
    {"kind": "503", "times": 2, "skip": 4, "retry_after": 0.02},
    {"kind": "reset", "times": 2, "skip": 6},
    {"kind": "malformed", "times": 2, "skip": 8},
    {"kind": "wrong_count", "times": 2, "skip": 10},
]


def test_5000_documents_under_faults_each_embedded_once_in_order_with_its_own_vector(emu: EmulatorProcess) -> None:
    docs = corpus(5_000)
    embedder = gradient_embedder(emu, batch_size=256, max_concurrency=8)
    embedder.warm_up()
    before = _resources(_port(emu))
    for rule in FAULTS:
        emu.add_fault(rule)

    out = embedder.run(docs)
    embedder.close()

    injected = emu.stats()["faults_injected"]
    assert {"429", "500", "503", "reset", "malformed", "wrong_count"} <= set(injected), injected
    assert out["failed_documents"] == []
    assert [d.id for d in out["documents"]] == [d.id for d in docs]  # every one, once, in order
    assert [d.content for d in out["documents"]] == [d.content for d in docs]
    got = np.array([d.embedding for d in out["documents"]])
    assert got.shape == (5_000, 1024)
    np.testing.assert_allclose(got, expected(docs), atol=1e-9)  # each with the vector of its own text
    assert out["meta"]["retries"] == sum(injected.values())  # each fault cost exactly one retry
    assert out["meta"]["counts"] == {"documents": 5000, "embedded": 5000, "skipped": 0, "failed": 0}
    assert_no_leaks(before, _port(emu))


def test_slower_than_the_timeout_is_retried(emu: EmulatorProcess) -> None:
    docs = corpus(120)
    embedder = gradient_embedder(emu, batch_size=20, max_concurrency=4, settings={"timeout": 0.5})
    emu.add_fault(kind="slow", delay=1.5, times=2)
    out = embedder.run(docs)
    embedder.close()
    assert emu.stats()["faults_injected"] == {"slow": 2}
    assert [d.id for d in out["documents"]] == [d.id for d in docs]
    np.testing.assert_allclose(np.array([d.embedding for d in out["documents"]]), expected(docs), atol=1e-9)
    assert out["meta"]["retries"] == 2


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"kind": "429", "retry_after": 0.25}, RateLimitError),
        ({"kind": "500"}, ServerError),
        ({"kind": "503"}, ServerError),
        ({"kind": "reset"}, ProviderConnectionError),
        ({"kind": "malformed"}, ResponseError),
        ({"kind": "wrong_count"}, ResponseError),
        ({"kind": "slow", "delay": 1.0}, ProviderTimeoutError),
    ],
    ids=lambda v: v["kind"] if isinstance(v, dict) else "",
)
def test_each_fault_maps_to_its_typed_error(emu: EmulatorProcess, rule: dict[str, Any], error: type) -> None:
    provider = get_provider("gradient", host=emu.api_url, timeout=0.4, retry=NO_RETRY)
    emu.add_fault(rule, times=1)
    with pytest.raises(error) as info:
        provider.embed_documents(["one", "two"])
    assert isinstance(info.value, ProviderError)
    assert info.value.retryable
    if isinstance(info.value, RateLimitError):
        assert info.value.retry_after == pytest.approx(0.25)
    # the next request is served normally (nothing stuck in the client)
    assert provider.embed_documents(["one", "two"]).vectors[0] == pytest.approx(list(embedding("one")), abs=1e-9)
    provider.close()


def test_authentication_failure_is_not_retried(emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "not-the-right-token")
    embedder = gradient_embedder(emu, batch_size=10)
    with pytest.raises(EmbeddingFailedError) as info:
        embedder.run(corpus(10))
    assert isinstance(info.value.__cause__, AuthenticationError)
    assert emu.stats()["requests"] == 1
    embedder.close()


def test_beyond_the_retry_budget_a_typed_error_names_the_failed_ids(emu: EmulatorProcess) -> None:
    docs = corpus(600)
    docs[333] = Document(id="poisoned", content="passage 333 with a poison-pill inside")
    emu.add_fault(kind="503", contains="poison-pill")  # this batch fails on every attempt
    embedder = gradient_embedder(
        emu, batch_size=50, max_concurrency=1, retry={"max_attempts": 3, "initial_wait": 0, "max_wait": 0}
    )
    with pytest.raises(EmbeddingFailedError) as info:
        embedder.run(docs)
    err = info.value
    assert "poisoned" in err.failed_ids
    assert err.failed_ids == [d.id for d in docs[300:350]]  # exactly the poisoned batch
    assert isinstance(err.__cause__, ServerError)
    assert "doc-00300" in str(err)
    embedder.close()


def test_beyond_the_retry_budget_failed_documents_are_returned_not_lost(emu: EmulatorProcess) -> None:
    docs = corpus(600)
    docs[10] = Document(id="poisoned", content="passage 10 with a poison-pill inside")
    emu.add_fault(kind="500", contains="poison-pill")
    emu.add_fault(kind="429", rate=0.3, times=5, retry_after=0.02)
    embedder = gradient_embedder(
        emu,
        batch_size=50,
        max_concurrency=6,
        raise_on_failure=False,
        retry={"max_attempts": 6, "initial_wait": 0, "max_wait": 0},
    )
    out = embedder.run(docs)
    embedder.close()
    failed = out["failed_documents"]
    assert [d.id for d in failed] == [d.id for d in docs[:50]]
    assert all("ServerError" in d.meta["embedding_error"] for d in failed)
    assert all(d.embedding is None for d in failed)
    kept = out["documents"]
    assert [d.id for d in kept] == [d.id for d in docs[50:]]  # order kept, nothing lost
    np.testing.assert_allclose(np.array([d.embedding for d in kept]), expected(docs[50:]), atol=1e-9)
    assert out["meta"]["failed_ids"] == [d.id for d in failed]
    assert len(kept) + len(failed) == len(docs)


async def test_200_concurrent_run_async_calls_complete(emu: EmulatorProcess) -> None:
    embedder = gradient_embedder(emu, batch_size=8, max_concurrency=2)
    queries = ProviderTextEmbedder(provider="gradient", settings={"host": emu.api_url, "timeout": 30.0}, retry=RETRY)
    embedder.warm_up()
    queries.warm_up()
    before = _resources(_port(emu))
    emu.add_fault(kind="429", rate=0.2, times=30, retry_after=0.01)
    emu.add_fault(kind="503", rate=0.1, times=10)
    batches = [corpus(10, marker=f"call {c}") for c in range(100)]
    texts = [f"question number {c}?" for c in range(100)]
    results = await asyncio.gather(
        *(embedder.run_async(batch) for batch in batches), *(queries.run_async(t) for t in texts)
    )
    assert sum(emu.stats()["faults_injected"].values()) > 0
    for batch, out in zip(batches, results[:100], strict=True):
        assert [d.id for d in out["documents"]] == [d.id for d in batch]
        np.testing.assert_allclose(np.array([d.embedding for d in out["documents"]]), expected(batch), atol=1e-9)
    for text, out in zip(texts, results[100:], strict=True):
        assert out["embedding"] == pytest.approx(list(embedding(text)), abs=1e-9)
    await embedder.close_async()
    await queries.close_async()
    gc.collect()
    after = _resources(_port(emu))
    # (the loop's default executor threads belong to the event loop and end with it)
    assert after.emulator_connections <= before.emulator_connections, "connections to the emulator left open"
    assert after.other_fds <= before.other_fds, f"leaked file descriptors: {sorted(after.other_fds - before.other_fds)}"


# --------------------------------------------------------------------------- fake provider


def test_fake_provider_5000_documents_under_faults_exactly_once() -> None:
    """The fake provider counts the texts it embedded successfully: with faults on the first
    requests and on marked texts, every text is still embedded exactly once."""
    docs = corpus(5_000)
    docs[1234] = Document(id="flaky", content="flaky text that fails once")
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_first": 3, "fail_with": "rate_limit", "retry_after": 0.01},
        retry=RETRY,
        batch_size=64,
        max_concurrency=4,
        progress_bar=False,
    )
    embedder.warm_up()
    before = _resources(0)
    provider = embedder.provider_instance
    out = embedder.run(docs)
    assert provider.embedded_texts == 5_000  # type: ignore[union-attr]
    assert [d.id for d in out["documents"]] == [d.id for d in docs]
    for doc in out["documents"][::97]:
        assert doc.embedding == fake_embedding(doc.content or "", 64)
    assert out["meta"]["retries"] == 3
    embedder.close()
    assert_no_leaks(before, 0)


@pytest.mark.parametrize("kind", ["wrong_count", "server", "connection", "response", "timeout"])
def test_fake_provider_persistent_fault_gives_failed_ids(kind: str) -> None:
    docs = corpus(100)
    docs[70] = Document(id="bad", content="this one is marked BROKEN")
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"fail_on": ["BROKEN"], "fail_with": kind},
        retry={"max_attempts": 2, "initial_wait": 0},
        batch_size=16,
        progress_bar=False,
    )
    with pytest.raises(EmbeddingFailedError) as info:
        embedder.run(docs)
    assert info.value.failed_ids == [d.id for d in docs[64:80]]
    assert isinstance(info.value.__cause__, ProviderError)


def test_fake_provider_timeout_setting() -> None:
    provider = get_provider("fake", latency=0.3, timeout=0.05, retry=RetryPolicy(max_attempts=2, initial_wait=0))
    with track_retries() as stats, pytest.raises(ProviderTimeoutError, match="timeout"):
        provider.embed_documents(["slow"])
    assert stats.attempts == 2
    fast = get_provider("fake", latency=0.01, timeout=0.5)
    assert len(fast.embed_documents(["fine"]).vectors) == 1


def test_the_leak_check_catches_an_unclosed_client(emu: EmulatorProcess) -> None:
    """The accounting above is not vacuous: a provider left open keeps its connections."""
    before = _resources(_port(emu))
    provider = get_provider("gradient", host=emu.api_url, retry=NO_RETRY)
    provider.embed_documents(["keep-alive"])
    with pytest.raises(AssertionError, match="leaked connections to the emulator"):
        assert_no_leaks(before, _port(emu))
    provider.close()
    assert_no_leaks(before, _port(emu))
