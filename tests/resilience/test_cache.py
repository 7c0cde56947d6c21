"""The SQLite embedding cache: keys, fidelity, dimension checks, counters, and concurrency."""

from __future__ import annotations

import math
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hayswitch import ConfigurationError, get_provider
from hayswitch.cache import (
    DEFAULT_CACHE_PATH,
    CacheError,
    CacheNamespace,
    EmbeddingCache,
    resolve_cache,
    text_hash,
)
from hayswitch.providers.fake import fake_embedding

NS = CacheNamespace(provider="fake", model="fake-embed", input_type="document", settings={"dimension": 8})


def vec(text: str, dim: int = 8) -> list[float]:
    return fake_embedding(text, dim)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[EmbeddingCache]:
    with EmbeddingCache(tmp_path / "c" / "cache.sqlite") as c:
        yield c


def test_put_then_get_in_input_order_with_misses_as_none(cache: EmbeddingCache) -> None:
    texts = ["alpha", "beta", "gamma"]
    assert cache.get_many(NS, texts) == [None, None, None]
    assert cache.put_many(NS, texts[:2], [vec(t) for t in texts[:2]]) == 2
    got = cache.get_many(NS, ["gamma", "beta", "alpha", "beta"])
    assert got[0] is None
    for g, t in zip(got[1:], ["beta", "alpha", "beta"], strict=True):
        assert g == pytest.approx(vec(t), abs=1e-6)
    assert got[1] is not got[3]  # duplicates never alias
    s = cache.stats()
    assert (s.hits, s.misses, s.writes, s.entries, s.namespaces) == (3, 4, 2, 2, 1)
    assert s.hit_rate == pytest.approx(3 / 7)


def test_float32_storage_is_compact_and_float64_is_exact(tmp_path: Path) -> None:
    v = vec("precision matters", 64)
    with (
        EmbeddingCache(tmp_path / "f32.sqlite") as f32,
        EmbeddingCache(tmp_path / "f64.sqlite", dtype="float64") as f64,
    ):
        f32.put(NS, "t", v)
        f64.put(NS, "t", v)
        assert f64.get(NS, "t") == v
        got = f32.get(NS, "t")
        assert got is not None
        assert got != v
        assert got == pytest.approx(v, rel=1e-6)
        row32 = sqlite3.connect(f32.path).execute("SELECT length(vector) FROM vectors").fetchone()[0]
        row64 = sqlite3.connect(f64.path).execute("SELECT length(vector) FROM vectors").fetchone()[0]
        assert (row32, row64) == (64 * 4, 64 * 8)
    with pytest.raises(ConfigurationError):
        EmbeddingCache(tmp_path / "x.sqlite", dtype="float16")  # type: ignore[arg-type]


def test_persists_across_instances_and_reads_either_dtype(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path, dtype="float64") as first:
        first.put(NS, "kept", vec("kept"))
    with EmbeddingCache(path) as second:  # float32 writer, float64 rows still readable
        assert second.get(NS, "kept") == vec("kept")
        second.put(NS, "new", vec("new"))
        assert len(second) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "other"},
        {"model": "fake-embed-v2"},
        {"input_type": "query"},
        {"settings": {"dimension": 8, "normalize": False}},
        {"dimension": 8},
    ],
    ids=lambda c: next(iter(c)),
)
def test_anything_that_changes_vectors_changes_the_key(cache: EmbeddingCache, change: dict[str, object]) -> None:
    other = CacheNamespace(**{**NS.as_dict(), **change})
    assert other.key != NS.key
    cache.put(NS, "text", vec("text"))
    assert cache.get(other, "text") is None


def test_the_text_itself_is_the_rest_of_the_key(cache: EmbeddingCache) -> None:
    cache.put(NS, "passage: hello", vec("passage: hello"))
    assert cache.get(NS, "hello") is None  # a different prefix is a different text
    assert cache.get(NS, "passage: hello ") is None
    assert text_hash("a") != text_hash("a ")
    assert len(text_hash("é")) == 32


def test_namespace_for_provider_follows_settings_and_input_type() -> None:
    p64 = get_provider("fake")
    p32 = get_provider("fake", dimension=32)
    other_model = get_provider("fake", embedding_model="fake-2")
    same = get_provider("fake", latency=0.0, chat_model="irrelevant")  # does not change vectors
    doc = CacheNamespace.for_provider(p64, "document")
    assert doc.key == CacheNamespace.for_provider(same, "document").key
    assert doc.key != CacheNamespace.for_provider(p64, "query").key
    assert doc.key != CacheNamespace.for_provider(p32, "document").key
    assert doc.key != CacheNamespace.for_provider(other_model, "document").key
    assert doc.settings == {"dimension": 64}
    assert doc.model == "fake-embed"
    with pytest.raises(ValueError):
        CacheNamespace.for_provider(p64, "passage")


def test_dimension_is_recorded_and_enforced(cache: EmbeddingCache) -> None:
    cache.put(NS, "a", vec("a", 8))
    with pytest.raises(CacheError, match="Clear the cache"):
        cache.put(NS, "b", vec("b", 16))
    declared = CacheNamespace(**{**NS.as_dict(), "dimension": 4})
    with pytest.raises(CacheError, match="declared"):
        cache.put(declared, "b", vec("b", 8))


def test_a_row_of_the_wrong_size_is_a_miss_not_a_wrong_vector(cache: EmbeddingCache) -> None:
    cache.put_many(NS, ["good", "bad"], [vec("good"), vec("bad")])
    conn = sqlite3.connect(cache.path)
    with conn:
        conn.execute("UPDATE vectors SET vector = ? WHERE hash = ?", (b"\x00" * 12, text_hash("bad")))
    conn.close()
    got = cache.get_many(NS, ["good", "bad"])
    assert got[0] is not None
    assert got[1] is None
    assert cache.stats().rejected == 1
    cache.put(NS, "bad", vec("bad"))  # a re-embed repairs it
    assert cache.get(NS, "bad") == pytest.approx(vec("bad"), abs=1e-6)


@pytest.mark.parametrize(
    ("texts", "vectors", "match"),
    [
        (["a", "b"], [[1.0]], "2 texts but 1 vectors"),
        (["a", "b"], [[1.0], [1.0, 2.0]], "one dimension"),
        (["a"], [[]], "one dimension"),
        (["a"], [[math.nan]], "NaN"),
        (["a"], [[math.inf]], "NaN or infinite"),
    ],
)
def test_put_many_validates(cache: EmbeddingCache, texts: list[str], vectors: list[list[float]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cache.put_many(NS, texts, vectors)
    assert len(cache) == 0


def test_empty_inputs(cache: EmbeddingCache) -> None:
    assert cache.get_many(NS, []) == []
    assert cache.put_many(NS, [], []) == 0


def test_large_lookups_are_chunked(cache: EmbeddingCache) -> None:
    texts = [f"text {i}" for i in range(2_345)]
    cache.put_many(NS, texts, [[float(i + 1)] * 8 for i in range(len(texts))])
    got = cache.get_many(NS, texts)
    assert [g[0] for g in got if g is not None] == [float(i + 1) for i in range(len(texts))]


def test_clear_stats_namespaces_and_size(cache: EmbeddingCache) -> None:
    query = CacheNamespace(**{**NS.as_dict(), "input_type": "query"})
    cache.put_many(NS, ["a", "b"], [vec("a"), vec("b")])
    cache.put(query, "q", vec("q"))
    listed = cache.namespaces()
    assert [(n["input_type"], n["entries"], n["dimension"]) for n in listed] == [("document", 2, 8), ("query", 1, 8)]
    assert listed[0]["settings"] == {"dimension": 8}
    assert cache.size_bytes() > 0
    assert cache.stats().as_dict()["entries"] == 3
    assert cache.clear(query) == 1
    assert cache.clear(query) == 0
    assert len(cache) == 2
    assert cache.clear() == 2
    assert len(cache) == 0
    assert cache.namespaces() == []
    cache.reset_counters()
    assert (cache.hits, cache.misses, cache.writes) == (0, 0, 0)


def test_wal_mode_and_busy_timeout(cache: EmbeddingCache) -> None:
    cache.put(NS, "a", vec("a"))
    conn = sqlite3.connect(cache.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert cache._connection().execute("PRAGMA busy_timeout").fetchone()[0] == 60_000


def test_close_is_idempotent_and_reopens_on_use(cache: EmbeddingCache) -> None:
    cache.put(NS, "a", vec("a"))
    cache.close()
    cache.close()
    assert cache.get(NS, "a") is not None


def test_not_a_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CacheError, match="Delete the file"):
        EmbeddingCache(junk)
    other = tmp_path / "other.sqlite"
    with EmbeddingCache(other):
        pass
    conn = sqlite3.connect(other)
    with conn:
        conn.execute("UPDATE cache_info SET value = '999' WHERE key = 'schema'")
    conn.close()
    with pytest.raises(CacheError, match="different cache schema"):
        EmbeddingCache(other)


def test_resolve_cache_values(tmp_path: Path) -> None:
    assert resolve_cache(None) is None
    assert resolve_cache(False) is None
    default = resolve_cache(True)
    assert default is not None
    assert default.path == Path(".") / DEFAULT_CACHE_PATH
    assert (Path.cwd() / DEFAULT_CACHE_PATH).is_file()
    default.close()
    under = resolve_cache(True, base_dir=tmp_path)
    assert under is not None
    assert under.path == tmp_path / DEFAULT_CACHE_PATH
    under.close()
    explicit = resolve_cache(str(tmp_path / "x.sqlite"))
    assert explicit is not None
    assert resolve_cache(explicit) is explicit
    explicit.close()
    for bad in ("", 3, ["a"]):
        with pytest.raises(ConfigurationError, match="cache"):
            resolve_cache(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- concurrency


def test_concurrent_threads_read_and_write_safely(cache: EmbeddingCache) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(w: int) -> None:
        try:
            barrier.wait()
            for round_ in range(20):
                texts = [f"t{(w * 7 + round_ * 3 + k) % 150}" for k in range(10)]
                cache.put_many(NS, texts, [vec(t) for t in texts])
                for t, got in zip(texts, cache.get_many(NS, texts), strict=True):
                    assert got == pytest.approx(vec(t), abs=1e-6)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == len(
        {f"t{i}" for i in range(150)}
        & {f"t{(w * 7 + r * 3 + k) % 150}" for w in range(8) for r in range(20) for k in range(10)}
    )


_WORKER = r"""
import sys
from hayswitch.cache import CacheNamespace, EmbeddingCache
from hayswitch.providers.fake import fake_embedding
path, worker = sys.argv[1], int(sys.argv[2])
ns = CacheNamespace(provider="fake", model="fake-embed", input_type="document", settings={"dimension": 8})
cache = EmbeddingCache(path)
for round_ in range(25):
    # overlapping ranges: every text is written by several processes at once
    texts = [f"doc {(worker * 40 + round_ * 8 + k) % 300}" for k in range(16)]
    cache.put_many(ns, texts, [fake_embedding(t, 8) for t in texts])
    got = cache.get_many(ns, texts)
    assert all(g is not None for g in got), "a write was lost"
cache.close()
print("ok")
"""


def test_concurrent_processes_write_the_same_file_safely(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    EmbeddingCache(path).close()  # create it, then let four writers race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), str(w)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        for w in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    expected = {f"doc {(w * 40 + r * 8 + k) % 300}" for w in range(4) for r in range(25) for k in range(16)}
    with EmbeddingCache(path) as cache:
        assert len(cache) == len(expected)
        got = cache.get_many(NS, sorted(expected))
        for text, g in zip(sorted(expected), got, strict=True):
            assert g == pytest.approx(vec(text), abs=1e-6)


def _forked_child(path: str, queue: multiprocessing.Queue) -> None:
    inherited: EmbeddingCache = _INHERITED[0]
    inherited.put(NS, "from child", vec("from child"))  # must not reuse the parent's connection
    queue.put(inherited.get(NS, "from parent") is not None)


_INHERITED: list[EmbeddingCache] = []


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "fork.sqlite")
    cache.put(NS, "from parent", vec("from parent"))
    _INHERITED[:] = [cache]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_forked_child, args=(str(cache.path), queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) is True
    assert cache.get(NS, "from child") is not None
    cache.close()
