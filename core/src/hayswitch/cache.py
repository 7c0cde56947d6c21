"""A persistent embedding cache on SQLite: re-embedding an unchanged corpus makes no provider call.

Vectors are keyed by a *namespace* -- everything that changes vectors -- plus the SHA-256 of the
exact text that was sent to the provider:

* the provider's registry name and its embedding model id,
* the provider's :meth:`~hayswitch.Provider.vector_settings_fingerprint` (settings such as an
  output dimension or a normalisation switch),
* the embedding dimension, when given explicitly (it is otherwise recorded on first write and
  checked on every read and write),
* the input type (``"document"`` or ``"query"``: providers may add instructions to queries),
* and, through the text hash, any prefix/suffix or embedded meta fields the component added.

Change any of them and the key changes, so a stale vector is never served. (A backend that
silently swaps the model behind an unchanged id cannot be detected from the outside; the cache
checks the dimension on every read and write and refuses to mix dimensions in one namespace --
clear the cache if that happens.)

The database uses WAL journaling and a busy timeout, writes in short ``BEGIN IMMEDIATE``
transactions with idempotent upserts, and reopens its connection after a ``fork``, so any number
of threads and processes can read and write the same file concurrently. Vectors are stored as
little-endian ``float32`` (default; what most models compute in) or ``float64`` bytes.

Example::

    from hayswitch import get_provider
    from hayswitch.cache import CacheNamespace, EmbeddingCache

    provider = get_provider("fake")
    with EmbeddingCache(".hayswitch/cache.sqlite") as cache:
        ns = CacheNamespace.for_provider(provider, "document")
        vectors = cache.get_many(ns, texts)             # None where missing
        missing = [t for t, v in zip(texts, vectors) if v is None]
        cache.put_many(ns, missing, provider.embed_documents(missing).vectors)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hayswitch.errors import ConfigurationError, ResponseError
from hayswitch.types import EmbeddingResult, TextEmbedding

if TYPE_CHECKING:
    from hayswitch.provider import Provider

__all__ = [
    "DEFAULT_CACHE_PATH",
    "CacheError",
    "CacheNamespace",
    "CacheStats",
    "EmbeddingCache",
    "APPLICATION_ID",
    "aembed_text_with_cache",
    "check_cache_file",
    "read_cache_file",
    "aembed_with_cache",
    "embed_text_with_cache",
    "embed_with_cache",
    "resolve_cache",
    "text_hash",
]

DEFAULT_CACHE_PATH = Path(".hayswitch") / "cache.sqlite"
"""Where the cache lives when it is switched on with ``True`` (relative to the working directory)."""

SCHEMA_VERSION = 1
_IN_CHUNK = 500  # host parameters per SELECT ... IN (...), well below SQLite's limit

Dtype = Literal["float32", "float64"]
_NUMPY_DTYPES: dict[str, str] = {"float32": "<f4", "float64": "<f8"}
"""Stored row formats: packed little-endian IEEE floats, ``dimension`` of them per row. Both are
read whatever ``dtype`` the cache writes (a row's size says which it is)."""


class CacheError(ConfigurationError):
    """The cache file is unusable or holds vectors inconsistent with a request (the message says
    how to fix it, usually by clearing the cache). Never retried, never a per-document failure."""


APPLICATION_ID = 0x48535743
"""``PRAGMA application_id`` of a hayswitch cache (ASCII ``HSWC``): marks the file as ours."""

_OFF_HINT = "or switch the cache off (cache=None in Python, --no-cache on the command line)"


def _readonly_uri(path: Path) -> str:
    from urllib.parse import quote

    return f"file:{quote(str(path.resolve()))}?mode=ro"


def check_cache_file(path: str | os.PathLike[str]) -> None:
    """Refuse, without writing anything, a file that is not a hayswitch embedding cache.

    A missing file is fine (it will be created). The check opens the file read-only
    (``mode=ro``): a foreign SQLite database is never switched to WAL, given tables or cleared.

    :raises CacheError: for an empty (0-byte) file, a file that is not an SQLite database, or a
        database written by another application; the message says what to do.
    """
    target = Path(path).expanduser()
    if not target.exists():
        return
    if not target.is_file():
        raise CacheError(
            f"The embedding cache path {target} is not a file. Point the cache at a file path, {_OFF_HINT}."
        )
    if target.stat().st_size == 0:
        raise CacheError(
            f"{target} is an empty file, not a hayswitch embedding cache; it was left untouched. Delete it (hayswitch "
            f"creates the cache itself), point the cache at another path, {_OFF_HINT}."
        )
    try:
        conn = sqlite3.connect(_readonly_uri(target), uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise CacheError(
            f"Cannot read the embedding cache {target}: {exc}. Check its permissions, {_OFF_HINT}."
        ) from None
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
        marker = None
        if "cache_info" in tables:
            row = conn.execute("SELECT value FROM cache_info WHERE key = 'schema'").fetchone()
            marker = row[0] if row else None
    except sqlite3.DatabaseError as exc:
        raise CacheError(
            f"{target} is not a hayswitch embedding cache ({exc}); it was left untouched. Delete the file if you do "
            f"not need it, point the cache at another path, {_OFF_HINT}."
        ) from None
    finally:
        conn.close()
    ours = app_id == APPLICATION_ID or (app_id == 0 and marker is not None and {"namespaces", "vectors"} <= tables)
    if not ours:
        owner = f"application id {app_id:#x}" if app_id else "no hayswitch marker"
        listed = ", ".join(sorted(tables)[:8]) or "none"
        raise CacheError(
            f"{target} is an SQLite database of another application ({owner}; tables: {listed}), not a hayswitch "
            f"embedding cache; it was left untouched. Point the cache at another path, {_OFF_HINT}."
        )


def read_cache_file(path: str | os.PathLike[str]) -> tuple[CacheStats, list[dict[str, Any]]]:
    """What a cache file holds, read strictly read-only (``hayswitch cache stats``).

    :raises CacheError: for a missing, empty or foreign file.
    """
    target = Path(path).expanduser()
    if not target.is_file():
        raise CacheError(f"No embedding cache at {target} (it is created by 'hayswitch index' or cache=...).")
    check_cache_file(target)
    conn = sqlite3.connect(_readonly_uri(target), uri=True, timeout=5.0)
    try:
        entries = int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        rows = conn.execute(
            "SELECT n.provider, n.model, n.input_type, n.settings, n.dimension, COUNT(v.hash) "
            "FROM namespaces n LEFT JOIN vectors v ON v.ns = n.id GROUP BY n.id ORDER BY n.id"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise CacheError(f"Reading the embedding cache {target} failed: {exc}") from None
    finally:
        conn.close()
    spaces = [
        {"provider": p, "model": m, "input_type": i, "settings": json.loads(st), "dimension": d, "entries": int(n)}
        for p, m, i, st, d, n in rows
    ]
    size = sum(os.stat(f"{target}{sfx}").st_size for sfx in ("", "-wal") if os.path.exists(f"{target}{sfx}"))
    stats = CacheStats(
        path=str(target),
        hits=0,
        misses=0,
        writes=0,
        rejected=0,
        entries=entries,
        namespaces=len(spaces),
        size_bytes=size,
    )
    return stats, spaces


def text_hash(text: str) -> bytes:
    """The 32-byte SHA-256 of ``text`` (UTF-8) used as the per-text key."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class CacheNamespace:
    """Everything besides the text that determines a vector.

    :param provider: the provider's registry name.
    :param model: the embedding model id.
    :param input_type: ``"document"`` or ``"query"``.
    :param settings: the settings that change vectors (JSON-ready).
    :param dimension: the declared vector size, when known up front.
    """

    provider: str
    model: str
    input_type: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    dimension: int | None = None

    @classmethod
    def for_provider(cls, provider: Provider | Any, input_type: str) -> CacheNamespace:
        """The namespace of ``provider``'s vectors for ``input_type`` (anything with the provider's
        ``name``, ``embedding_model_id`` and ``vector_settings_fingerprint()``, such as a
        :class:`~hayswitch.fallback.FallbackChain`).

        The dimension is not part of this key: some providers only learn it from their first
        response, which would change the key mid-run. The model id and the vector settings
        determine it; the cache records it on first write and checks it on every read and write.
        """
        if input_type not in ("document", "query"):
            raise ValueError(f"input_type must be 'document' or 'query', not {input_type!r}")
        return cls(
            provider=str(provider.name),
            model=str(provider.embedding_model_id),
            input_type=input_type,
            settings=dict(provider.vector_settings_fingerprint()),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "input_type": self.input_type,
            "settings": dict(self.settings),
            "dimension": self.dimension,
        }

    @property
    def key(self) -> str:
        """A stable hex digest of the namespace (part of every row's key)."""
        payload = _canonical({"schema": SCHEMA_VERSION, **self.as_dict()})
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of the cache: this instance's counters plus what the file holds.

    :ivar hits: vectors served from the cache by this instance.
    :ivar misses: texts looked up and not found (or rejected) by this instance.
    :ivar writes: vectors written by this instance.
    :ivar rejected: stored rows ignored because their size did not match the dimension.
    :ivar entries: vectors in the file (all namespaces, all processes).
    :ivar namespaces: namespaces in the file.
    :ivar size_bytes: size of the database file including its WAL.
    """

    path: str
    hits: int
    misses: int
    writes: int
    rejected: int
    entries: int
    namespaces: int
    size_bytes: int

    @property
    def hit_rate(self) -> float:
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "hits": self.hits,
            "misses": self.misses,
            "writes": self.writes,
            "rejected": self.rejected,
            "entries": self.entries,
            "namespaces": self.namespaces,
            "size_bytes": self.size_bytes,
            "hit_rate": round(self.hit_rate, 4),
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_type TEXT NOT NULL,
    settings TEXT NOT NULL,
    dimension INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY,
    ns INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    hash BLOB NOT NULL,
    vector BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS vectors_key ON vectors (ns, hash);
"""
# Vectors are kilobytes (4 KiB for 1024 float32): a rowid table with a separate key index and
# 32 KiB pages keeps several per page instead of spilling each into overflow pages, which makes
# bulk reads ~5x faster than a WITHOUT ROWID table on 4 KiB pages.
_PAGE_SIZE = 32768


def _encode_rows(vectors: Sequence[Sequence[float]] | Any, dtype: str) -> list[bytes]:
    """Pack vectors (a list of lists or a 2-D array) into one little-endian row blob each.

    One numpy conversion for the whole batch; the finiteness check runs on the stored values (a
    float64 too large for float32 would become infinite there).

    :raises ValueError: for NaN or infinite values.
    """
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported just below
        matrix = np.asarray(vectors, dtype=dtype)
    if not np.isfinite(matrix).all():
        raise ValueError(
            "Refusing to cache a vector with NaN or infinite values"
            + (" (or values too large for float32)." if dtype == "<f4" else ".")
        )
    return [row.tobytes() for row in matrix]


def _decode_rows(blobs: Sequence[bytes], dimension: int) -> tuple[Any, list[int | None]]:
    """Unpack row blobs in bulk: a float64 matrix of the valid rows, and for each blob its row in
    the matrix (None for a blob whose size fits neither stored format: rejected).

    No per-float Python work: blobs of each format are joined and read with one ``frombuffer``.
    """
    import numpy as np

    positions: list[int | None] = [None] * len(blobs)
    groups: dict[str, list[int]] = {"<f4": [], "<f8": []}
    for i, blob in enumerate(blobs):
        size = len(blob)
        if size == 4 * dimension:
            groups["<f4"].append(i)
        elif size == 8 * dimension:
            groups["<f8"].append(i)
    parts = []
    row = 0
    for dtype, members in groups.items():
        if not members:
            continue
        joined = b"".join(blobs[i] for i in members)
        parts.append(np.frombuffer(joined, dtype=dtype).reshape(len(members), dimension))
        for i in members:
            positions[i] = row
            row += 1
    if not parts:
        return np.empty((0, max(dimension, 0))), positions
    matrix = parts[0] if len(parts) == 1 else np.concatenate([p.astype("<f8") for p in parts])
    return matrix, positions


class EmbeddingCache:
    """A persistent, process-safe embedding cache in one SQLite file.

    :param path: the database file (created with its parent directories if missing).
    :param dtype: how vectors are stored: ``"float32"`` (half the size; exact for models that
        compute in float32) or ``"float64"`` (bit-exact for every Python float).
    :param timeout: seconds to wait for another writer's lock before failing.
    :raises CacheError: if the file cannot be opened or is not a hayswitch cache.
    """

    def __init__(
        self, path: str | os.PathLike[str] = DEFAULT_CACHE_PATH, *, dtype: Dtype = "float32", timeout: float = 60.0
    ) -> None:
        if dtype not in _NUMPY_DTYPES:
            raise ConfigurationError(f"Cache dtype must be 'float32' or 'float64', not {dtype!r}.")
        self.path = Path(path).expanduser()
        self.dtype: Dtype = dtype
        self.timeout = float(timeout)
        self._np_dtype = _NUMPY_DTYPES[dtype]
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._namespaces: dict[str, tuple[int, int | None]] = {}
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.rejected = 0
        with self._lock:
            self._connection()

    # ------------------------------------------------------------------ connection
    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # First use, or first use in a forked child: never share a connection across processes.
        self._conn = None
        self._namespaces.clear()
        conn: sqlite3.Connection | None = None
        # Before anything is written: a foreign database or an empty file is refused untouched.
        check_cache_file(self.path)
        blocker = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise CacheError(
                f"Cannot create the embedding cache {self.path}: {blocker} is a file, not a folder. Point the cache "
                f"at another path, {_OFF_HINT}."
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # only takes effect on a new file
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise CacheError(f"Cannot enable WAL journaling on {self.path} (got {mode!r}); use a local disk.")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            with _transaction(conn):
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                row = conn.execute("SELECT value FROM cache_info WHERE key = 'schema'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO cache_info VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif row[0] != str(SCHEMA_VERSION):
                    raise CacheError(
                        f"{self.path} was written by a different cache schema (version {row[0]}, this is "
                        f"{SCHEMA_VERSION}). Delete the file (it only holds vectors that can be recomputed), "
                        f"point the cache at another path, {_OFF_HINT}."
                    )
                else:
                    # A real write, so a read-only file fails here, at open, and not after the
                    # embeddings were computed (a no-op CREATE IF NOT EXISTS succeeds read-only).
                    conn.execute("UPDATE cache_info SET value = value WHERE key = 'schema'")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        except (sqlite3.DatabaseError, OSError, CacheError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, CacheError):
                raise
            text = str(exc)
            if "readonly" in text.replace(" ", "").replace("-", "") or isinstance(exc, PermissionError):
                raise CacheError(
                    f"The embedding cache {self.path} is read-only ({text}). Make the file and its folder writable, "
                    f"point the cache at a writable path, {_OFF_HINT}. Nothing was embedded yet."
                ) from None
            raise CacheError(
                f"Cannot open the embedding cache {self.path}: {text}. Fix or delete it, {_OFF_HINT}."
            ) from None
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close the connection (idempotent; the cache reopens on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache(path={str(self.path)!r}, dtype={self.dtype!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for process pools: the child opens its own connection.
        return {"path": str(self.path), "dtype": self.dtype, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], dtype=state["dtype"], timeout=state["timeout"])  # type: ignore[misc]

    # ------------------------------------------------------------------ namespaces
    def _namespace(
        self, conn: sqlite3.Connection, namespace: CacheNamespace, create: bool
    ) -> tuple[int, int | None] | None:
        key = namespace.key
        cached = self._namespaces.get(key)
        if cached is not None and cached[1] is not None:
            return cached
        row = conn.execute("SELECT id, dimension FROM namespaces WHERE key = ?", (key,)).fetchone()
        if row is None and create:
            conn.execute(
                "INSERT OR IGNORE INTO namespaces (key, provider, model, input_type, settings, dimension, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    namespace.provider,
                    namespace.model,
                    namespace.input_type,
                    _canonical(dict(namespace.settings)),
                    namespace.dimension,
                    time.time(),
                ),
            )
            row = conn.execute("SELECT id, dimension FROM namespaces WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        entry = (int(row[0]), None if row[1] is None else int(row[1]))
        self._namespaces[key] = entry
        return entry

    # ------------------------------------------------------------------ reads
    def lookup(self, namespace: CacheNamespace, texts: Sequence[str]) -> tuple[Any, list[int | None]]:
        """The cached vectors of ``texts`` as one matrix, without building Python lists.

        :returns: ``(matrix, rows)``: a 2-D numpy array (float32, or float64 where rows were
            stored as float64) holding each distinct cached vector once, and for each text its
            row in ``matrix``, or None where there is none. Duplicate texts share a row. Rows whose
            size does not match the namespace's dimension are ignored (counted as ``rejected``
            and as misses).
        """
        import numpy as np

        if not texts:
            return np.empty((0, 0), dtype=np.float32), []
        hashes = [text_hash(t) for t in texts]
        digests: list[bytes] = []
        blobs: list[bytes] = []
        dimension = 0
        with self._lock:
            conn = self._connection()
            try:
                entry = self._namespace(conn, namespace, create=False)
                if entry is not None and entry[1] is not None:
                    ns_id, dimension = entry[0], entry[1]
                    unique = list(dict.fromkeys(hashes))
                    for start in range(0, len(unique), _IN_CHUNK):
                        chunk = unique[start : start + _IN_CHUNK]
                        marks = ",".join("?" * len(chunk))
                        for digest, blob in conn.execute(
                            f"SELECT hash, vector FROM vectors WHERE ns = ? AND hash IN ({marks})", (ns_id, *chunk)
                        ):
                            digests.append(bytes(digest))
                            blobs.append(blob)
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"Reading the embedding cache {self.path} failed: {exc}") from exc
        matrix, positions = _decode_rows(blobs, dimension)
        row_of = {d: p for d, p in zip(digests, positions, strict=True) if p is not None}
        rows = [row_of.get(digest) for digest in hashes]
        hits = sum(r is not None for r in rows)
        with self._lock:
            self.hits += hits
            self.misses += len(rows) - hits
            self.rejected += len(blobs) - len(row_of)
        return matrix, rows

    def get_many(self, namespace: CacheNamespace, texts: Sequence[str]) -> list[list[float] | None]:
        """The cached vector of each text, or None where there is none (input order).

        Rows whose size does not match the namespace's dimension are ignored (counted as
        ``rejected`` and as misses). Vectors are read in bulk (:meth:`lookup`) and turned into
        Python lists once, in one ``tolist()`` call; duplicate texts get their own list.
        """
        matrix, rows = self.lookup(namespace, texts)
        vectors: list[list[float]] = matrix.tolist() if len(matrix) else []
        out: list[list[float] | None] = []
        served: set[int] = set()
        for row in rows:
            if row is None:
                out.append(None)
            elif row in served:
                out.append(list(vectors[row]))  # duplicate texts get their own list (no aliasing)
            else:
                served.add(row)
                out.append(vectors[row])
        return out

    def get(self, namespace: CacheNamespace, text: str) -> list[float] | None:
        """The cached vector of one text, or None."""
        return self.get_many(namespace, [text])[0]

    # ------------------------------------------------------------------ writes
    def put_many(
        self, namespace: CacheNamespace, texts: Sequence[str], vectors: Sequence[Sequence[float]] | Any
    ) -> int:
        """Store the vector of each text (idempotent; concurrent writers are safe).

        :returns: the number of vectors written.
        :raises ValueError: if ``texts`` and ``vectors`` differ in length, or a vector is empty
            or not finite.
        :raises CacheError: if the vectors' dimension differs from the one already stored for
            this namespace (the backend changed behind an unchanged model id: clear the cache).
        """
        if len(texts) != len(vectors):
            raise ValueError(f"put_many() got {len(texts)} texts but {len(vectors)} vectors.")
        if not texts:
            return 0
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or 0 in dims:
            raise ValueError(f"put_many() needs non-empty vectors of one dimension, got dimensions {sorted(dims)}.")
        (dimension,) = dims
        if namespace.dimension is not None and dimension != namespace.dimension:
            raise CacheError(
                f"Refusing to cache {dimension}-dimensional vectors in a namespace declared as "
                f"{namespace.dimension}-dimensional ({namespace.provider}/{namespace.model})."
            )
        blobs = _encode_rows(vectors, self._np_dtype)
        rows: dict[bytes, bytes] = dict(zip((text_hash(t) for t in texts), blobs, strict=True))
        now = time.time()
        with self._lock:
            conn = self._connection()
            try:
                with _transaction(conn):
                    entry = self._namespace(conn, namespace, create=True)
                    assert entry is not None
                    ns_id, stored = entry
                    if stored is None:
                        conn.execute(
                            "UPDATE namespaces SET dimension = ? WHERE id = ? AND dimension IS NULL", (dimension, ns_id)
                        )
                        stored = int(
                            conn.execute("SELECT dimension FROM namespaces WHERE id = ?", (ns_id,)).fetchone()[0]
                        )
                        self._namespaces[namespace.key] = (ns_id, stored)
                    if stored != dimension:
                        raise CacheError(
                            f"The cache {self.path} holds {stored}-dimensional vectors for "
                            f"{namespace.provider}/{namespace.model} ({namespace.input_type}), but the backend now "
                            f"returns {dimension}-dimensional ones under the same model id and settings. Clear the "
                            "cache ('hayswitch cache clear' or EmbeddingCache.clear()) and re-embed."
                        )
                    conn.executemany(
                        "INSERT OR REPLACE INTO vectors (ns, hash, vector, created) VALUES (?, ?, ?, ?)",
                        [(ns_id, digest, blob, now) for digest, blob in rows.items()],
                    )
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"Writing to the embedding cache {self.path} failed: {exc}") from exc
            self.writes += len(rows)
        return len(rows)

    def put(self, namespace: CacheNamespace, text: str, vector: Sequence[float]) -> None:
        """Store the vector of one text."""
        self.put_many(namespace, [text], [vector])

    # ------------------------------------------------------------------ maintenance
    def clear(self, namespace: CacheNamespace | None = None) -> int:
        """Delete every vector (or only ``namespace``'s).

        :returns: the number of vectors deleted.
        """
        with self._lock:
            conn = self._connection()
            with _transaction(conn):
                if namespace is None:
                    removed = conn.execute("DELETE FROM vectors").rowcount
                    conn.execute("DELETE FROM namespaces")
                else:
                    entry = self._namespace(conn, namespace, create=False)
                    if entry is None:
                        return 0
                    removed = conn.execute("DELETE FROM vectors WHERE ns = ?", (entry[0],)).rowcount
                    conn.execute("DELETE FROM namespaces WHERE id = ?", (entry[0],))
            self._namespaces.clear()
            if namespace is None:
                conn.execute("VACUUM")
        return int(removed)

    def reset_counters(self) -> None:
        """Zero this instance's hit/miss/write counters."""
        with self._lock:
            self.hits = self.misses = self.writes = self.rejected = 0

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def namespaces(self) -> list[dict[str, Any]]:
        """What the file holds, one entry per namespace with its vector count."""
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT n.provider, n.model, n.input_type, n.settings, n.dimension, COUNT(v.hash) "
                    "FROM namespaces n LEFT JOIN vectors v ON v.ns = n.id GROUP BY n.id ORDER BY n.id"
                )
                .fetchall()
            )
        return [
            {
                "provider": p,
                "model": m,
                "input_type": i,
                "settings": json.loads(s),
                "dimension": d,
                "entries": int(n),
            }
            for p, m, i, s, d, n in rows
        ]

    def size_bytes(self) -> int:
        """Bytes on disk (database plus write-ahead log)."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    def stats(self) -> CacheStats:
        """This instance's counters and the file's contents."""
        with self._lock:
            conn = self._connection()
            entries = int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            namespaces = int(conn.execute("SELECT COUNT(*) FROM namespaces").fetchone()[0])
            return CacheStats(
                path=str(self.path),
                hits=self.hits,
                misses=self.misses,
                writes=self.writes,
                rejected=self.rejected,
                entries=entries,
                namespaces=namespaces,
                size_bytes=self.size_bytes(),
            )


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection.

    IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading read locks;
    the busy timeout makes the second one wait.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def resolve_cache(
    value: EmbeddingCache | str | os.PathLike[str] | bool | None, *, base_dir: str | os.PathLike[str] | None = None
) -> EmbeddingCache | None:
    """What a component's ``cache=`` option means.

    ``None``/``False``: no cache. ``True``: :data:`DEFAULT_CACHE_PATH` (under ``base_dir`` or the
    working directory). A path: that file. An :class:`EmbeddingCache`: itself.

    :raises ConfigurationError: for any other value.
    """
    if value is None or value is False:
        return None
    if isinstance(value, EmbeddingCache):
        return value
    if value is True:
        return EmbeddingCache(Path(base_dir or ".") / DEFAULT_CACHE_PATH)
    if isinstance(value, str | os.PathLike):
        if not str(value).strip():
            raise ConfigurationError("'cache' is an empty path; pass True for the default location or a file path.")
        return EmbeddingCache(value)
    raise ConfigurationError(
        f"'cache' must be None/False (off), True (default path {DEFAULT_CACHE_PATH}), or a file path; "
        f"got {type(value).__name__}."
    )


# --------------------------------------------------------------------------- read-through helpers


def _cache_meta(hits: int, total: int) -> dict[str, int]:
    return {"hits": hits, "misses": total - hits}


def _merge_cached(
    namespace: CacheNamespace,
    texts: Sequence[str],
    cached: list[list[float] | None],
    missing: list[str],
    fresh: EmbeddingResult | None,
) -> EmbeddingResult:
    hits = sum(v is not None for v in cached)
    # model_construct: cached vectors were decoded here and fresh ones validated by the provider,
    # so re-validating millions of floats would only cost time.
    if fresh is None:
        vectors = [v for v in cached if v is not None]
        return EmbeddingResult.model_construct(
            vectors=vectors, model=namespace.model, usage=None, meta={"cache": _cache_meta(hits, len(texts))}
        )
    if len(fresh.vectors) != len(missing):
        raise ResponseError(f"Expected {len(missing)} vectors, the backend returned {len(fresh.vectors)}.")
    by_text = dict(zip(missing, fresh.vectors, strict=True))
    used: set[str] = set()
    out: list[list[float]] = []
    for text, vector in zip(texts, cached, strict=True):
        if vector is None:
            vector = by_text[text] if text not in used else list(by_text[text])
            used.add(text)
        out.append(vector)
    return EmbeddingResult.model_construct(
        vectors=out,
        model=fresh.model,
        usage=fresh.usage,
        meta={**fresh.meta, "cache": _cache_meta(hits, len(texts))},
    )


def _missing(texts: Sequence[str], cached: list[list[float] | None]) -> list[str]:
    return list(dict.fromkeys(t for t, v in zip(texts, cached, strict=True) if v is None))


def embed_with_cache(
    cache: EmbeddingCache,
    namespace: CacheNamespace,
    texts: Sequence[str],
    embed: Callable[[list[str]], EmbeddingResult],
    *,
    lookup: bool = True,
) -> EmbeddingResult:
    """Read-through embedding of one batch: cached vectors are served, only the missing (unique)
    texts are sent to ``embed``, and their vectors are stored.

    ``lookup=False`` skips the read (the caller already looked the texts up in bulk and knows
    they are missing): the unique texts are embedded and stored.

    :returns: vectors in input order; ``meta["cache"]`` holds this batch's ``hits``/``misses``;
        ``usage`` covers only what was sent.
    :raises CacheError: if fresh vectors do not match the dimension stored for the namespace.
    """
    cached: list[list[float] | None] = cache.get_many(namespace, texts) if lookup else [None] * len(texts)
    missing = _missing(texts, cached)
    fresh = None
    if missing:
        fresh = embed(missing)
        if len(fresh.vectors) == len(missing):
            cache.put_many(namespace, missing, fresh.vectors)
    return _merge_cached(namespace, texts, cached, missing, fresh)


async def aembed_with_cache(
    cache: EmbeddingCache,
    namespace: CacheNamespace,
    texts: Sequence[str],
    embed: Callable[[list[str]], Awaitable[EmbeddingResult]],
    *,
    lookup: bool = True,
) -> EmbeddingResult:
    """Async twin of :func:`embed_with_cache` (SQLite work runs in a worker thread)."""
    cached: list[list[float] | None] = (
        await asyncio.to_thread(cache.get_many, namespace, texts) if lookup else [None] * len(texts)
    )
    missing = _missing(texts, cached)
    fresh = None
    if missing:
        fresh = await embed(missing)
        if len(fresh.vectors) == len(missing):
            await asyncio.to_thread(cache.put_many, namespace, missing, fresh.vectors)
    return _merge_cached(namespace, texts, cached, missing, fresh)


def embed_text_with_cache(
    cache: EmbeddingCache, namespace: CacheNamespace, text: str, embed: Callable[[str], TextEmbedding]
) -> TextEmbedding:
    """Read-through embedding of one (query) text; ``meta["cache"]`` holds ``hits``/``misses``."""
    vector = cache.get(namespace, text)
    if vector is not None:
        return TextEmbedding(vector=vector, model=namespace.model, meta={"cache": _cache_meta(1, 1)})
    result = embed(text)
    cache.put(namespace, text, result.vector)
    return result.model_copy(update={"meta": {**result.meta, "cache": _cache_meta(0, 1)}})


async def aembed_text_with_cache(
    cache: EmbeddingCache, namespace: CacheNamespace, text: str, embed: Callable[[str], Awaitable[TextEmbedding]]
) -> TextEmbedding:
    """Async twin of :func:`embed_text_with_cache`."""
    vector = await asyncio.to_thread(cache.get, namespace, text)
    if vector is not None:
        return TextEmbedding(vector=vector, model=namespace.model, meta={"cache": _cache_meta(1, 1)})
    result = await embed(text)
    await asyncio.to_thread(cache.put, namespace, text, result.vector)
    return result.model_copy(update={"meta": {**result.meta, "cache": _cache_meta(0, 1)}})
