"""The cache's packed-vector path: bulk numpy encode/decode, old rows, mixed formats, round trips."""

from __future__ import annotations

import sqlite3
import struct
from array import array
from pathlib import Path

import numpy as np
import pytest

from hayswitch.cache import CacheNamespace, EmbeddingCache

NS = CacheNamespace(provider="fake", model="fake-embed", input_type="document", settings={"dimension": 6})


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dim))
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_float32_round_trip_is_exactly_the_float32_values(tmp_path: Path) -> None:
    vectors = _unit_rows(50, 6).tolist()
    texts = [f"text {i}" for i in range(50)]
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.put_many(NS, texts, vectors) == 50
        got = cache.get_many(NS, texts)
    expected = np.asarray(vectors, dtype=np.float32).astype(np.float64).tolist()
    assert got == expected  # bit-exact float32 values, as Python floats
    assert all(type(x) is float for v in got for x in v if v is not None)


def test_float64_round_trip_is_exact(tmp_path: Path) -> None:
    vectors = _unit_rows(10, 6, seed=1).tolist()
    texts = [f"t{i}" for i in range(10)]
    with EmbeddingCache(tmp_path / "c.sqlite", dtype="float64") as cache:
        cache.put_many(NS, texts, vectors)
        assert cache.get_many(NS, texts) == vectors


def test_numpy_matrix_input_is_accepted(tmp_path: Path) -> None:
    matrix = _unit_rows(4, 6, seed=2).astype(np.float32)
    texts = ["a", "b", "c", "d"]
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(NS, texts, matrix)
        got = cache.get_many(NS, texts)
    assert got == matrix.astype(np.float64).tolist()


def test_rows_written_by_the_array_encoder_and_both_formats_in_one_read(tmp_path: Path) -> None:
    """Rows stored by earlier versions (``array('f'|'d', v).tobytes()``, little-endian) still read,
    float32 and float64 rows mixed in one call, each in its caller's input order."""
    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put_many(NS, ["seed"], [[1.0, 0, 0, 0, 0, 0]])  # creates the namespace with dimension 6
    v32 = [0.5, -0.25, 0.125, 0.0, 1.5, -2.0]
    v64 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # not representable in float32: must come back exact
    from hayswitch.cache import text_hash

    conn = sqlite3.connect(path)
    ns_id = conn.execute("SELECT id FROM namespaces").fetchone()[0]
    conn.execute(
        "INSERT INTO vectors (ns, hash, vector, created) VALUES (?, ?, ?, 0)",
        (ns_id, text_hash("old32"), array("f", v32).tobytes()),
    )
    conn.execute(
        "INSERT INTO vectors (ns, hash, vector, created) VALUES (?, ?, ?, 0)",
        (ns_id, text_hash("old64"), struct.pack("<6d", *v64)),
    )
    conn.commit()
    conn.close()
    with EmbeddingCache(path) as cache:
        got = cache.get_many(NS, ["old64", "missing", "old32", "old64"])
        assert got[0] == v64
        assert got[3] == v64
        assert got[0] is not got[3]  # duplicates are distinct lists
        assert got[1] is None
        assert got[2] == v32
        assert (cache.hits, cache.misses) == (3, 1)


def test_lookup_returns_one_matrix_and_row_indices(tmp_path: Path) -> None:
    vectors = _unit_rows(3, 6, seed=4)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(NS, ["x", "y", "z"], vectors.tolist())
        matrix, rows = cache.lookup(NS, ["z", "nope", "x", "z"])
    assert matrix.shape[1] == 6
    assert matrix.dtype == np.float32
    assert rows[1] is None
    assert rows[0] == rows[3]
    assert rows[0] is not None
    assert rows[2] is not None
    np.testing.assert_array_equal(matrix[rows[0]], vectors[2].astype(np.float32))
    np.testing.assert_array_equal(matrix[rows[2]], vectors[0].astype(np.float32))


def test_rows_of_a_foreign_size_are_rejected_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put_many(NS, ["good"], [[0.0, 1, 0, 0, 0, 0]])
    from hayswitch.cache import text_hash

    conn = sqlite3.connect(path)
    ns_id = conn.execute("SELECT id FROM namespaces").fetchone()[0]
    conn.execute(
        "INSERT INTO vectors (ns, hash, vector, created) VALUES (?, ?, ?, 0)", (ns_id, text_hash("odd"), b"\x00" * 20)
    )
    conn.commit()
    conn.close()
    with EmbeddingCache(path) as cache:
        assert cache.get_many(NS, ["odd", "good"]) == [None, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]]
        assert cache.rejected == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e39])
def test_non_finite_and_float32_overflow_are_refused(tmp_path: Path, bad: float) -> None:
    with EmbeddingCache(tmp_path / "c.sqlite") as cache, pytest.raises(ValueError, match="NaN or infinite"):
        cache.put_many(NS, ["a"], [[0.0, 1.0, bad, 0.0, 0.0, 0.0]])
    assert len(EmbeddingCache(tmp_path / "c.sqlite")) == 0


def test_large_batch_round_trip_across_chunks(tmp_path: Path) -> None:
    vectors = _unit_rows(1300, 6, seed=5).astype(np.float32)
    texts = [f"doc {i}" for i in range(1300)]
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(NS, texts, vectors.tolist())
        got = cache.get_many(NS, list(reversed(texts)))
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float32), vectors[::-1])
