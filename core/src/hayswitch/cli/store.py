"""The document store of ``hayswitch index`` / ``hayswitch ask``: Chroma collections of embedded
passages plus a manifest of the indexed files, with the lock that serialises index runs.

``--store`` names either a folder (an embedded, persistent Chroma database; default
``.hayswitch/store``; no server to start) or a server URL (``http://host:8000``, e.g. ``chroma run
--path FOLDER``, which serves the same folder format). Both hold:

* ``hayswitch_passages`` and, past :data:`SHARD_PASSAGES` passages, ``hayswitch_passages_1``,
  ``_2``, ...: one record per passage (id, text, vector, meta ``file_path``, ``passage``,
  ``heading``, ``file_key``, ``file_sha256``), searched by cosine similarity. Each of these
  *shards* has its own vector index, which Chroma loads whole before the first read or write of
  the collection; a file's passages live in one shard, so re-indexing one edited file loads one
  shard's index (at most :data:`SHARD_PASSAGES` vectors), not the whole corpus's. A search asks
  every shard and keeps the closest passages. The metadata of ``hayswitch_passages`` records the
  embedding space and the splitter settings (``embedding_provider``, ``embedding_model``,
  ``embedding_dimension``, ``splitter``), which every ``index`` and ``ask`` checks before
  embedding anything.
* ``hayswitch_files``: the manifest, every indexed file's record (path, content hash, passage
  count, shard, and the size and time it had when hashed), packed as JSON in
  :data:`MANIFEST_BUCKETS` records by a hash of the file's key, so that reading it is a few
  hundred records whatever the number of files; plus, while a commit is in progress, its journal.

A passage's id is derived from its file and content hash (``<file digest>-<sha256 prefix>-<n>``),
so the ids of a file's old passages follow from its manifest record and a changed file is
replaced by: write the journal (the files about to change), upsert the new passages, rewrite the
files' manifest buckets, delete the old ids, delete the journal. Those calls form one commit per
group of files, during which Ctrl-C is held back (see :func:`deferred_interrupt`); a crash between
them (power loss, SIGKILL) leaves the journal, and the next ``index`` run removes the passages of
the journal's files that the manifest does not account for.

Haystack and chromadb are imported lazily, so registering the CLI commands stays cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hayswitch.errors import ConfigurationError, InvalidInputError

if TYPE_CHECKING:
    from haystack import Document

__all__ = [
    "DEFAULT_STORE",
    "FORMAT",
    "SUPPORTED_SUFFIXES",
    "EmbeddingMismatchError",
    "FileRecord",
    "KeyResolver",
    "PassageStore",
    "StoreBusyError",
    "StoreError",
    "StoreLocation",
    "StoreNotFoundError",
    "check_embedding_space",
    "collect_corpus",
    "collect_files",
    "deferred_interrupt",
    "display_path",
    "passage_id",
    "stat_signature",
]

logger = logging.getLogger(__name__)

DEFAULT_STORE = Path(".hayswitch") / "store"
FORMAT = "hayswitch-chroma-2"
PASSAGES = "hayswitch_passages"
FILES = "hayswitch_files"
SHARD_PASSAGES = 100_000
"""Passages per shard (a new shard is started when the newest would grow past this). Chroma loads a
collection's whole vector index before its first read or write, about 7 us per passage on a 2-core
machine: a write to a shard of 100,000 passages waits under a second for it, and a shard's inserts
stay at the speed of a small index (bench/README.md)."""
MANIFEST_BUCKETS = 1024
"""Records the manifest is packed into (a file's record is in bucket ``hash(key) % 1024``)."""
JOURNAL_ID = "journal"
_BUCKET_PREFIX = "bucket-"
_DEFAULT_SYNC_THRESHOLD = 1000
_FLUSH_PROBE = "hayswitch-flush-probe"
SAVE_AFTER_WRITES = 200
"""Writes to a collection, over runs, after which the end of an ``index`` run saves its vector
index (see :meth:`PassageStore.finish`): a process opening it replays at most about this many."""
_RETRIEVERS: dict[tuple[str, int, str], Any] = {}
"""ChromaEmbeddingRetriever per (store, shard, collection id), kept for the process (see search)."""
LOCK_COLLECTION = "hayswitch_index_lock"
LOCK_FILE = "hayswitch-index.lock"
SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".html", ".htm")
_PAGE = 5000  # records per get() page when listing the manifest or repairing


class StoreError(InvalidInputError):
    """The store is unreadable, corrupt, or of an unknown format."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """There is no store at the given path (or the server has no hayswitch collection)."""


class StoreBusyError(StoreError):
    """Another ``hayswitch index`` run holds the store's lock longer than we were told to wait."""


class EmbeddingMismatchError(ConfigurationError):
    """The configured embedding provider/model/dimension (or the splitter) differs from the store's."""


def display_path(path: Path, cwd: Path | None = None, *, resolved: bool = False) -> str:
    """``path`` relative to the working directory when it is under it, else absolute (POSIX form).

    :param cwd: the folder to show paths relative to (resolved); default: the working directory.
    :param resolved: ``path`` is already resolved (a store key): it is not resolved again.
    """
    base = cwd if cwd is not None else Path.cwd().resolve()
    target = path if resolved else path.resolve()
    try:
        return target.relative_to(base).as_posix()
    except ValueError:
        return target.as_posix()


# --------------------------------------------------------------------------- corpus files


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    """Whether a file or folder (path relative to the folder being walked) matches an exclude
    pattern (fnmatch): ``api`` leaves out the folder ``api/``, ``*.draft.md`` every draft."""
    return any(fnmatch.fnmatch(relative, pattern.strip("/")) for pattern in patterns)


def _kinds() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


def _walk(root: str, exclude: Sequence[str]) -> Iterator[tuple[str, str, bool]]:
    """The supported files under the resolved folder ``root``: (path, path relative to ``root``,
    whether the file is a symlink). Hidden files and folders and excluded ones are skipped (a
    folder matching a pattern is not entered); symlinked folders are not followed (as
    ``Path.rglob``). One ``scandir`` per folder: no ``stat`` for a regular file."""
    stack = [("", root)]
    while stack:
        rel_dir, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if exclude and _matches(rel, exclude):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((rel, entry.path))
                    continue
                if os.path.splitext(name)[1].lower() not in SUPPORTED_SUFFIXES:
                    continue
                link = entry.is_symlink()
                if entry.is_file(follow_symlinks=True):
                    yield entry.path, rel, link
            except OSError:
                continue


def collect_corpus(paths: Sequence[Path], exclude: Sequence[str] = ()) -> tuple[list[str], list[str], list[str]]:
    """The supported files (:data:`SUPPORTED_SUFFIXES`) named by ``paths`` (folders are walked
    recursively; hidden files and folders such as ``.git`` are skipped), de-duplicated and sorted,
    with their store keys (resolved absolute POSIX paths). An empty result is not an error here: a
    folder whose files were all deleted must still let ``index`` remove their passages.

    A file found in a walked folder (resolved once) is already resolved unless it is a symlink,
    so a corpus of 40,000 files costs one ``scandir`` per folder, not three ``stat`` calls and
    several path resolutions per file (files are returned as strings: building 40,000 ``Path``
    objects alone takes 0.2 s).

    :param exclude: glob patterns, relative to each folder walked, of files or folders to leave out.
    :returns: the files, their keys, and one warning per path that contributed nothing.
    :raises InvalidInputError: if no path is given or a path does not exist.
    """
    if not paths:
        raise InvalidInputError("Give at least one file or folder to index.")
    found: dict[str, str] = {}  # key -> file
    warnings: list[str] = []
    links = KeyResolver()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(f"{raw} does not exist. Pass existing files or folders ({_kinds()} files).")
        if path.is_dir():
            root = path.resolve().as_posix()
            count = 0
            for file, _rel, link in _walk(root, exclude):
                count += 1
                found.setdefault(links.key(Path(file)) if link else file, file)
            if not count:
                warnings.append(f"{raw}: no {_kinds()} files in this folder")
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            resolved = path.resolve()
            found.setdefault(resolved.as_posix(), str(resolved))
        else:
            warnings.append(f"{raw}: skipped (only {_kinds()} files are indexed)")
    ordered = sorted(found.items(), key=lambda item: item[1].split("/"))  # (the order of Path objects)
    return [file for _, file in ordered], [key for key, _ in ordered], warnings


def collect_files(paths: Sequence[Path], exclude: Sequence[str] = ()) -> tuple[list[Path], list[str]]:
    """The files of :func:`collect_corpus`, without their keys: ``(files, warnings)``."""
    files, _keys, warnings = collect_corpus(paths, exclude)
    return [Path(f) for f in files], warnings


def passage_id(file_key: str, sha256: str, number: int) -> str:
    """The id of passage ``number`` (1-based) of the file ``file_key`` with content hash ``sha256``."""
    digest = hashlib.sha256(file_key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{digest}-{sha256[:16]}-{number}"


# --------------------------------------------------------------------------- embedding space


def _describe(space: dict[str, Any]) -> str:
    dim = f", {space['dimension']} dimensions" if space.get("dimension") else ""
    return f"provider {space.get('provider')!r}, model {space.get('model')!r}{dim}"


def check_embedding_space(
    stored: dict[str, Any] | None, current: dict[str, Any], store: str, *, splitter: dict[str, Any] | None = None
) -> None:
    """Refuse to mix vectors from different embedding spaces (or passages cut differently).

    :param stored: the store's record (``provider``, ``model``, ``dimension``, ``splitter``), or
        None for an empty store.
    :param current: ``{"provider", "model", "dimension"}`` of the configured embedder (``dimension``
        may be None when the provider only knows it after its first request).
    :param splitter: the current splitter settings (index runs), or None (questions).
    :raises EmbeddingMismatchError: if provider or model differ, both dimensions are known and
        differ, or the splitter settings differ.
    """
    if not stored:
        return
    same = stored.get("provider") == current.get("provider") and stored.get("model") == current.get("model")
    dims = (stored.get("dimension"), current.get("dimension"))
    if not (same and (None in dims or dims[0] == dims[1])):
        raise EmbeddingMismatchError(
            f"The store {store} was built with {_describe(stored)}, but the configured embedder is "
            f"{_describe(current)}. Vectors from different models or sizes cannot be compared. Use the same "
            f"provider (--provider {stored.get('provider')} or the matching --profile), or re-index with the new "
            "one ('hayswitch index ... --rebuild', or a separate --store)."
        )
    if splitter is not None and stored.get("splitter") not in (None, splitter):
        raise EmbeddingMismatchError(
            f"The store {store} was split with {stored.get('splitter')}, this hayswitch splits with {splitter}. "
            "Passages cut differently cannot be updated file by file: re-index with 'hayswitch index ... --rebuild' "
            "(unchanged passages come from the embedding cache)."
        )


# --------------------------------------------------------------------------- Ctrl-C


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) for the duration of the block and raise ``KeyboardInterrupt``
    right after it, so a commit is never cut in half. Outside the main thread (where signal
    handlers cannot be set) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: object) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


# --------------------------------------------------------------------------- location


@dataclass(frozen=True)
class StoreLocation:
    """Where a store lives: an embedded folder (``path``) or a Chroma server (``url``)."""

    spec: str
    path: Path | None = None
    url: str | None = None

    @classmethod
    def parse(cls, spec: str | Path) -> StoreLocation:
        """``http(s)://host[:port]`` for a server, anything else a folder.

        :raises StoreError: if the path names an existing file (e.g. a JSON index of an older hayswitch).
        """
        text = str(spec)
        if text.startswith(("http://", "https://")):
            parts = urlsplit(text)
            if not parts.hostname:
                raise StoreError(f"--store {text} is not a valid server URL. Example: --store http://localhost:8000")
            return cls(spec=text, url=text.rstrip("/"))
        path = Path(text).expanduser()
        if path.is_file():
            hint = ""
            with contextlib.suppress(OSError), path.open("rb") as fh:
                if b"hayswitch-index" in fh.read(200):
                    hint = " It is a JSON index of an older hayswitch, which is no longer read."
            raise StoreError(
                f"--store {text} is a file; a store is a folder (default {DEFAULT_STORE}) or a server URL.{hint} "
                f"Index into a folder: hayswitch index <folder> --store {path.with_suffix('')}"
            )
        return cls(spec=text, path=path)

    @property
    def is_server(self) -> bool:
        return self.url is not None

    def exists(self) -> bool:
        """Whether an embedded store folder exists (always True for a server)."""
        return self.url is not None or (self.path is not None and (self.path / "chroma.sqlite3").exists())

    def __str__(self) -> str:
        return self.spec


def _settings() -> Any:
    from chromadb.config import Settings

    # No telemetry, and nothing to reset: the store never phones home.
    return Settings(anonymized_telemetry=False, allow_reset=False)


def make_client(location: StoreLocation) -> Any:
    """A chromadb client for ``location`` (no network except to the server URL given).

    :raises StoreError: if the folder cannot be opened or the server cannot be reached.
    """
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb

    try:
        if location.url is not None:
            parts = urlsplit(location.url)
            ssl = parts.scheme == "https"
            port = parts.port or (443 if ssl else 8000)
            return chromadb.HttpClient(host=parts.hostname or "localhost", port=port, ssl=ssl, settings=_settings())
        assert location.path is not None
        target = location.path.resolve()  # a symlinked store is used where it points, never replaced
        return chromadb.PersistentClient(path=str(target), settings=_settings())
    except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds; all mean the same to the user
        raise StoreError(_open_failure(location, exc)) from None


def _open_failure(location: StoreLocation, exc: BaseException) -> str:
    detail = f"{type(exc).__name__}: {exc}".strip()
    if len(detail) > 300:
        detail = detail[:300] + "..."
    if location.is_server:
        return (
            f"Cannot reach the Chroma server at {location} ({detail}). Start it (chroma run --path FOLDER --port N) "
            "or pass --store with a folder for an embedded store."
        )
    return (
        f"Cannot open the store {location} ({detail}). If it is damaged, delete the folder or re-index with "
        f"'hayswitch index ... --store {location} --rebuild'."
    )


# --------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class FileRecord:
    """One indexed file: its resolved path (key), shown path, content hash and passage count, the
    size and modification time (ns) it had when it was hashed (None when not trusted: see
    :func:`stat_signature`), and the shard holding its passages."""

    key: str
    path: str
    sha256: str
    passages: int
    size: int | None = None
    mtime_ns: int | None = None
    shard: int = 0

    def ids(self) -> list[str]:
        return [passage_id(self.key, self.sha256, n) for n in range(1, self.passages + 1)]

    def unchanged_on_disk(self, st: os.stat_result) -> bool:
        """Whether a file with this stat is the file that was hashed (same size and modification
        time), so it need not be read and hashed again."""
        return self.size is not None and self.size == st.st_size and self.mtime_ns == st.st_mtime_ns


RACY_SECONDS = 2.0
"""A file modified less than this long before it was read may be modified again within the same
timestamp tick of its file system; its size and time are then not recorded, so the next run hashes
it again (as git does for "racily clean" files)."""


def stat_signature(st: os.stat_result, length: int, *, now_ns: int | None = None) -> tuple[int | None, int | None]:
    """The (size, mtime_ns) to record for a file read as ``length`` bytes after ``stat`` returned
    ``st``; (None, None) when it cannot be trusted to detect the next change (the file changed while
    it was read, or was modified within :data:`RACY_SECONDS`)."""
    now = time.time_ns() if now_ns is None else now_ns
    if st.st_size != length or now - st.st_mtime_ns < RACY_SECONDS * 1e9:
        return None, None
    return st.st_size, st.st_mtime_ns


class KeyResolver:
    """Store keys (resolved absolute POSIX paths) of many files, resolving each folder once: a file
    that is not itself a symlink resolves to its resolved folder plus its name."""

    def __init__(self) -> None:
        self._folders: dict[Path, Path] = {}

    def key(self, path: Path) -> str:
        path = Path(path).expanduser()
        if not path.is_absolute() or path.is_symlink() or path.name in ("", ".", ".."):
            return path.resolve().as_posix()
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        return (folder / path.name).as_posix()


@dataclass
class FileUpdate:
    """A file's new passages (embedded), ready to be committed."""

    record: FileRecord
    documents: list[Document]
    previous: FileRecord | None = None


def _checked_vectors(embeddings: Sequence[Sequence[float]], owners: Sequence[tuple[str, int]]) -> Any:
    """``embeddings`` as one float32 matrix (what Chroma stores), refusing vectors of unequal length
    or with NaN/inf (a store with such vectors crashes every later search).

    :raises StoreError: naming the first offending passage; nothing is stored then.
    """
    import numpy as np

    if not embeddings:
        return np.zeros((0, 0), dtype=np.float32)
    width = len(embeddings[0])
    for vector, (path, number) in zip(embeddings, owners, strict=True):
        if len(vector) != width:
            raise StoreError(
                f"The embedder returned vectors of different lengths ({width} and {len(vector)}, passage {number} of "
                f"{path}); nothing of that group was stored. Check the embedding provider."
            )
    with np.errstate(over="ignore"):
        matrix = np.asarray(embeddings, dtype=np.float64)
        vectors = matrix.astype(np.float32)
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        path, number = owners[int(np.argmax(bad))]
        raise StoreError(
            f"The embedder returned a non-finite vector (NaN/inf) for passage {number} of {path}; nothing of that "
            "file was stored. Check the embedding provider."
        )
    return vectors


def shard_name(number: int) -> str:
    """The collection name of passage shard ``number`` (0 is ``hayswitch_passages``)."""
    return PASSAGES if number == 0 else f"{PASSAGES}_{number}"


def _shard_number(name: str) -> int | None:
    if name == PASSAGES:
        return 0
    prefix = PASSAGES + "_"
    if name.startswith(prefix) and name[len(prefix) :].isdigit():
        return int(name[len(prefix) :])
    return None


def _bucket(key: str) -> int:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % MANIFEST_BUCKETS


def _bucket_id(number: int) -> str:
    return f"{_BUCKET_PREFIX}{number}"


def _record_row(record: FileRecord) -> list[Any]:
    known = record.size is not None and record.mtime_ns is not None
    return [
        record.path,
        record.sha256,
        record.passages,
        record.size if known else -1,
        record.mtime_ns if known else -1,
        record.shard,
    ]


def _row_record(key: str, row: Any) -> FileRecord:
    """A manifest row back as a record; an unreadable row gives a record that is re-indexed."""
    try:
        path, sha256, passages, size, mtime, shard = row
        known = isinstance(size, int) and isinstance(mtime, int) and size >= 0 and mtime >= 0
        return FileRecord(
            key=key,
            path=str(path),
            sha256=str(sha256),
            passages=int(passages),
            size=size if known else None,
            mtime_ns=mtime if known else None,
            shard=max(0, int(shard)),
        )
    except (TypeError, ValueError):
        return FileRecord(key=key, path=key, sha256="", passages=0)


def _legacy_record(key: str, meta: dict[str, Any]) -> FileRecord:
    """A record of the first store format (one Chroma record per file)."""
    size, mtime = meta.get("size"), meta.get("mtime_ns")
    return _row_record(key, [meta.get("path", key), meta.get("sha256", ""), meta.get("passages", 0), size, mtime, 0])


class PassageStore:
    """A hayswitch store opened on a Chroma client (see the module docstring).

    Use :meth:`open` (for ``ask``) or :meth:`open_for_indexing`. All chromadb errors surface as
    :class:`StoreError` with a message saying what to do.
    """

    def __init__(self, location: StoreLocation, client: Any, shards: dict[int, Any], files: Any) -> None:
        self.location = location
        self.client = client
        self.shards = dict(sorted(shards.items()))
        self.files = files
        self._max_batch = 5000
        with contextlib.suppress(Exception):
            self._max_batch = max(1, min(int(client.get_max_batch_size()), 5000))
        self._records: dict[str, FileRecord] | None = None  # the manifest, once read
        self._legacy: list[str] = []  # ids of first-format manifest records, rewritten at the next commit
        self._written: dict[str, int] = {}  # records written per collection by this process (see finish())

    def _identity(self) -> str:
        return self.location.url or (self.location.path.resolve().as_posix() if self.location.path else "")

    @property
    def passages(self) -> Any:
        """The first passage shard (``hayswitch_passages``), whose metadata records the space."""
        return self.shards[0]

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, location: StoreLocation) -> PassageStore:
        """Open an existing store for reading.

        :raises StoreNotFoundError: no store at ``location``.
        :raises StoreError: the store cannot be read.
        """
        if not location.exists():
            old = location.path.with_name(location.path.name + ".json") if location.path is not None else None
            hint = (
                f" ({old} is an index of an older hayswitch, which is no longer read: re-index your files.)"
                if old is not None and old.is_file()
                else ""
            )
            raise StoreNotFoundError(
                f"There is no store at {location}. Build one first: hayswitch index <folder> --store {location}{hint}"
            )
        client = make_client(location)
        try:
            names = {_name(c) for c in client.list_collections()}
        except Exception as exc:  # noqa: BLE001
            raise StoreError(_open_failure(location, exc)) from None
        if PASSAGES not in names:
            if location.is_server:
                raise StoreNotFoundError(
                    f"The Chroma server {location} has no hayswitch store yet. Build one first: "
                    f"hayswitch index <folder> --store {location}"
                )
            raise StoreError(
                f"{location} is not a hayswitch store (no {PASSAGES!r} collection). Choose another --store, or "
                f"re-index it with 'hayswitch index ... --store {location} --rebuild'."
            )
        if FILES not in names:
            raise StoreError(
                f"The store {location} is incomplete (no file manifest). Re-index it with "
                f"'hayswitch index ... --store {location} --rebuild'."
            )
        try:
            shards = {n: client.get_collection(name) for name in names if (n := _shard_number(name)) is not None}
            files = client.get_collection(FILES)
        except Exception as exc:  # noqa: BLE001
            raise StoreError(_open_failure(location, exc)) from None
        return cls(location, client, shards, files)

    @classmethod
    def open_for_indexing(cls, location: StoreLocation, *, rebuild: bool = False) -> PassageStore:
        """Open (or create) a store for writing; with ``rebuild``, drop its collections first (also
        those of a store that cannot be read as a hayswitch store).

        The caller must hold the store's lock (:meth:`lock`).
        """
        if location.path is not None:
            target = location.path.resolve()
            if rebuild and target.is_dir() and (target / "chroma.sqlite3").exists() and not _opens(location):
                _wipe_embedded(target)
        client = make_client(location)
        try:
            names = {_name(c) for c in client.list_collections()}
            ours = {name for name in names if name == FILES or _shard_number(name) is not None}
            if rebuild:
                for name in ours:
                    client.delete_collection(name)
                names -= ours
            elif location.path is not None and PASSAGES not in names and names - {FILES, LOCK_COLLECTION}:
                # Someone else's Chroma database: never write into it unless asked to replace it.
                raise StoreError(
                    f"{location} holds a Chroma database that is not a hayswitch store (collections: "
                    f"{', '.join(sorted(names))}). Choose another --store, or replace it with --rebuild."
                )
            shards = {0: client.get_or_create_collection(PASSAGES, metadata=_shard_metadata(), embedding_function=None)}
            for name in names:
                number = _shard_number(name)
                if number:
                    shards[number] = client.get_collection(name)
            files = client.get_or_create_collection(FILES, embedding_function=None)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreError(_open_failure(location, exc)) from None
        return cls(location, client, shards, files)

    # ------------------------------------------------------------------ lock
    @staticmethod
    @contextlib.contextmanager
    def lock(
        location: StoreLocation, *, timeout: float, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the store's index lock: one ``index`` run writes at a time; others wait up to
        ``timeout`` seconds (negative: forever), then fail with :class:`StoreBusyError`.

        An embedded store is locked with an OS file lock (``hayswitch-index.lock`` in the store
        folder), released by the OS if the process dies. A server store is locked by creating a
        lock collection (creation is atomic on the server); a lock left by a process that died on
        this machine is taken over, one from another machine must be removed by hand
        (the message says how).
        """
        if location.path is not None:
            with _file_lock(location.path, timeout=timeout, on_wait=on_wait):
                yield
        else:
            with _server_lock(location, timeout=timeout, on_wait=on_wait):
                yield

    # ------------------------------------------------------------------ metadata
    def space(self) -> dict[str, Any] | None:
        """The recorded embedding space and splitter, or None before the first commit."""
        meta = dict(self.passages.metadata or {})
        if "embedding_provider" not in meta:
            return None
        splitter: Any = meta.get("splitter")
        with contextlib.suppress(TypeError, ValueError):
            splitter = json.loads(splitter) if isinstance(splitter, str) else splitter
        return {
            "provider": meta.get("embedding_provider"),
            "model": meta.get("embedding_model"),
            "dimension": meta.get("embedding_dimension"),
            "splitter": splitter,
        }

    def record_space(self, space: dict[str, Any], splitter: dict[str, Any]) -> None:
        meta = {k: v for k, v in dict(self.passages.metadata or {}).items() if not k.startswith("hnsw:")}
        meta.update(
            {
                "hayswitch_format": FORMAT,
                "embedding_provider": str(space.get("provider")),
                "embedding_model": str(space.get("model")),
                "embedding_dimension": int(space["dimension"]),
                "splitter": json.dumps(splitter, sort_keys=True),
            }
        )
        self._call(self.passages.modify, metadata=meta)

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        """Passages in the store, counted by Chroma (this loads every shard's vector index; see
        :meth:`total` for the manifest's count)."""
        return sum(int(self._call(shard.count)) for shard in self.shards.values())

    def total(self) -> int:
        """Passages in the store according to the manifest (no vector index is loaded)."""
        return sum(r.passages for r in self._manifest().values())

    def manifest(self) -> dict[str, FileRecord]:
        """Every indexed file's record, keyed by resolved path (a copy: change the store with
        :meth:`commit` and :meth:`refresh_records`)."""
        return dict(self._manifest())

    def _manifest(self) -> dict[str, FileRecord]:
        if self._records is None:
            records: dict[str, FileRecord] = {}
            offset = 0
            while True:
                page = self._call(self.files.get, include=["metadatas"], limit=_PAGE, offset=offset)
                ids = page.get("ids") or []
                for record_id, meta in zip(ids, page.get("metadatas") or [], strict=False):
                    meta = meta or {}
                    if record_id.startswith(_BUCKET_PREFIX):
                        try:
                            rows = json.loads(str(meta.get("files", "{}")))
                        except ValueError:
                            raise StoreError(
                                f"The manifest of the store {self.location} is damaged (record {record_id}). "
                                f"Re-index with 'hayswitch index ... --store {self.location} --rebuild'."
                            ) from None
                        for key, row in rows.items():
                            records[key] = _row_record(key, row)
                    elif record_id != JOURNAL_ID:
                        self._legacy.append(record_id)
                        records[record_id] = _legacy_record(record_id, meta)
                if len(ids) < _PAGE:
                    break
                offset += _PAGE
            self._records = records
        return self._records

    def search(self, query_embedding: list[float], top_k: int) -> list[Document]:
        """The ``top_k`` passages closest to ``query_embedding`` over every shard, closest first,
        each shard searched by Haystack's ``ChromaEmbeddingRetriever`` (``score``: cosine
        distance; see :meth:`similarity`)."""
        from haystack_integrations.components.retrievers.chroma import ChromaEmbeddingRetriever

        found: list[Document] = []
        for number, collection in self.shards.items():
            # One retriever per shard and process: a ChromaDocumentStore builds its client settings
            # from the environment (about 30 ms) on first use, ten times per question at 1M passages.
            key = (self._identity(), number, str(getattr(collection, "id", "")))
            retriever = _RETRIEVERS.get(key)
            if retriever is None:
                retriever = _RETRIEVERS[key] = ChromaEmbeddingRetriever(document_store=self.haystack_store(number))
            found.extend(self._call(retriever.run, query_embedding=query_embedding, top_k=top_k)["documents"])
        found.sort(key=lambda doc: _distance_key(doc.score))
        return found[:top_k]

    def get_passages(self, include: Sequence[str] = ("documents", "metadatas")) -> dict[str, list[Any]]:
        """Every passage of every shard (ids and ``include``d fields, as Chroma's ``get``); for
        tests and small stores."""
        merged: dict[str, list[Any]] = {"ids": [], **{field: [] for field in include}}
        for shard in self.shards.values():
            got = self._call(shard.get, include=list(include))
            merged["ids"].extend(got.get("ids") or [])
            for field in include:
                values = got.get(field)
                merged[field].extend(list(values) if values is not None else [])
        return merged

    # ------------------------------------------------------------------ writing
    def commit(self, updates: Sequence[FileUpdate], removed: Sequence[FileRecord] = ()) -> None:
        """Replace the passages of the files in ``updates`` and drop those of ``removed`` in one
        step that Ctrl-C cannot cut (journal, new passages, manifest, old ids, end of journal)."""
        records = self._manifest()
        ids: list[str] = []
        embeddings: list[list[float]] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        shards: list[int] = []
        owners: list[tuple[str, int]] = []  # (file, passage number) of each vector, for error messages
        placed = self._place(updates)
        for update, rec in zip(updates, placed, strict=True):
            for number, doc in enumerate(update.documents, 1):
                vector = doc.embedding
                if not vector:
                    raise StoreError(
                        f"The embedder returned an empty vector for passage {number} of {rec.path}; nothing of that "
                        "file was stored. Check the embedding provider."
                    )
                ids.append(passage_id(rec.key, rec.sha256, number))
                embeddings.append(vector)
                owners.append((rec.path, number))
                shards.append(rec.shard)
                texts.append(doc.content or "")
                meta: dict[str, Any] = {
                    "file_path": rec.path,
                    "passage": number,
                    "heading": str(doc.meta.get("heading") or ""),
                    "file_key": rec.key,
                    "file_sha256": rec.sha256,
                }
                if isinstance(doc.meta.get("page_number"), int):
                    meta["page_number"] = doc.meta["page_number"]
                metas.append(meta)
        vectors = _checked_vectors(embeddings, owners)
        new_ids = set(ids)
        stale: dict[int, list[str]] = {}
        for update, rec in zip(updates, placed, strict=True):
            old = records.get(rec.key) or update.previous
            if old is not None:
                stale.setdefault(old.shard, []).extend(i for i in old.ids() if i not in new_ids)
        removed = [records.get(gone.key, gone) for gone in removed]  # (the shard is the store's to know)
        for gone in removed:
            stale.setdefault(gone.shard, []).extend(gone.ids())
        touched = sorted({*shards, *stale})
        with deferred_interrupt():
            self._write_journal([r.key for r in placed] + [r.key for r in removed], touched)
            for number in sorted(set(shards)):
                rows = [i for i, s in enumerate(shards) if s == number]
                collection = self._shard(number)
                self._wrote(shard_name(number), len(rows))
                for start in range(0, len(rows), self._max_batch):
                    chunk = rows[start : start + self._max_batch]
                    self._call(
                        collection.upsert,
                        ids=[ids[i] for i in chunk],
                        embeddings=vectors[chunk],
                        documents=[texts[i] for i in chunk],
                        metadatas=[metas[i] for i in chunk],
                    )
            for rec in placed:
                records[rec.key] = rec
            for gone in removed:
                records.pop(gone.key, None)
            self._write_manifest([r.key for r in placed] + [r.key for r in removed])
            for number, stale_ids in sorted(stale.items()):
                if number in self.shards:
                    self._wrote(shard_name(number), len(stale_ids))
                    for start in range(0, len(stale_ids), self._max_batch):
                        self._call(self.shards[number].delete, ids=stale_ids[start : start + self._max_batch])
            self._call(self.files.delete, ids=[JOURNAL_ID])

    def refresh_records(self, records: Sequence[FileRecord]) -> None:
        """Rewrite manifest records whose passages are unchanged (to record a file's size and
        modification time, so that the next run need not hash it)."""
        current = self._manifest()
        for record in records:
            known = current.get(record.key)
            current[record.key] = dataclasses.replace(record, shard=known.shard if known else record.shard)
        with deferred_interrupt():
            self._write_manifest([r.key for r in records])

    def _place(self, updates: Sequence[FileUpdate]) -> list[FileRecord]:
        """The records of ``updates`` with the shard their passages go to: the shard of the file's
        previous version, else the newest shard unless it would grow past :data:`SHARD_PASSAGES`
        (then a new one)."""
        records = self._manifest()
        newest = max(self.shards)
        held = sum(r.passages for r in records.values() if r.shard == newest)
        placed: list[FileRecord] = []
        for update in updates:
            known = records.get(update.record.key) or update.previous
            if known is not None and known.shard in self.shards:
                shard = known.shard
            else:
                if held and held + len(update.documents) > SHARD_PASSAGES:
                    newest, held = newest + 1, 0
                    self._shard(newest)
                shard = newest
                held += len(update.documents)
            placed.append(dataclasses.replace(update.record, shard=shard))
        return placed

    def _shard(self, number: int) -> Any:
        """Shard ``number``, created (with the first shard's settings) if it does not exist."""
        if number not in self.shards:
            self.shards[number] = self._call(
                self.client.get_or_create_collection,
                shard_name(number),
                metadata=_shard_metadata(),
                embedding_function=None,
            )
        return self.shards[number]

    def _write_journal(self, keys: Sequence[str], shards: Sequence[int]) -> None:
        meta = {"files": json.dumps(list(keys)), "shards": json.dumps(list(shards))}
        self._call(self.files.upsert, ids=[JOURNAL_ID], embeddings=[[0.0]], metadatas=[meta])
        self._wrote(FILES, 2)  # (and its deletion at the end of the commit)

    def _write_manifest(self, keys: Sequence[str]) -> None:
        """Rewrite the manifest buckets holding ``keys`` (and, once, move first-format records
        into buckets)."""
        records = self._manifest()
        buckets = {_bucket(k) for k in keys}
        if self._legacy:
            buckets |= {_bucket(k) for k in records}
        members: dict[int, dict[str, list[Any]]] = {b: {} for b in buckets}
        for key, record in records.items():
            bucket = _bucket(key)
            if bucket in members:
                members[bucket][key] = _record_row(record)
        ordered = sorted(members)
        for start in range(0, len(ordered), self._max_batch):
            chunk = ordered[start : start + self._max_batch]
            self._call(
                self.files.upsert,
                ids=[_bucket_id(b) for b in chunk],
                embeddings=[[0.0] for _ in chunk],
                metadatas=[{"files": json.dumps(members[b], separators=(",", ":"))} for b in chunk],
            )
        if self._legacy:
            for start in range(0, len(self._legacy), self._max_batch):
                self._call(self.files.delete, ids=self._legacy[start : start + self._max_batch])
            self._wrote(FILES, len(self._legacy))
            self._legacy = []
        self._wrote(FILES, len(ordered))

    def repair(self) -> int:
        """Finish what an interrupted commit left (see the module docstring): remove the passages
        of the journal's files that the manifest does not account for, and move a first-format
        manifest into buckets. Without a readable journal (a first-format store, which had none,
        or a damaged one) the passage count is checked against the manifest and, if they differ,
        every shard is scanned. Returns how many passages were removed."""
        journal = self._call(self.files.get, ids=[JOURNAL_ID], include=["metadatas"])
        journaled = bool(journal.get("ids"))
        if not journaled and not self._legacy:
            return 0
        records = self._manifest()
        orphans: dict[int, list[str]] = {}
        keys: list[str] | None = None
        numbers: list[int] = []
        if journaled:
            meta = (journal.get("metadatas") or [{}])[0] or {}
            with contextlib.suppress(TypeError, ValueError):
                keys, numbers = (
                    [str(k) for k in json.loads(str(meta.get("files", "[]")))],
                    [int(n) for n in json.loads(str(meta.get("shards", "[]")))],
                )
        if keys is not None:
            expected = {i for k in keys if k in records for i in records[k].ids()}
            for number in (n for n in numbers if n in self.shards):
                for start in range(0, len(keys), 500):
                    where = {"file_key": {"$in": keys[start : start + 500]}}
                    got = self._call(self.shards[number].get, where=where, include=[])
                    orphans.setdefault(number, []).extend(i for i in got.get("ids") or [] if i not in expected)
        elif self.count() != self.total():
            expected = {i for r in records.values() for i in r.ids()}
            for number, shard in self.shards.items():
                offset = 0
                while True:
                    page = self._call(shard.get, include=[], limit=_PAGE, offset=offset)
                    page_ids = page.get("ids") or []
                    orphans.setdefault(number, []).extend(i for i in page_ids if i not in expected)
                    if len(page_ids) < _PAGE:
                        break
                    offset += _PAGE
        with deferred_interrupt():
            for number, stale_ids in orphans.items():
                self._wrote(shard_name(number), len(stale_ids))
                for start in range(0, len(stale_ids), self._max_batch):
                    self._call(self.shards[number].delete, ids=stale_ids[start : start + self._max_batch])
            if self._legacy:
                self._write_manifest([])
            if journaled:
                self._call(self.files.delete, ids=[JOURNAL_ID])
        return sum(len(v) for v in orphans.values())

    def _wrote(self, collection: str, records: int) -> None:
        if records:
            self._written[collection] = self._written.get(collection, 0) + records

    def finish(self) -> None:
        """End a run that wrote to an embedded store: save the vector indexes of the collections
        with :data:`SAVE_AFTER_WRITES` or more writes not saved yet, so that the next process does
        not replay them. The store is not usable afterwards.

        Chroma saves an embedded collection's vector index after every ``sync_threshold`` (1,000)
        writes; the writes since are kept in its log and replayed, one by one, by every process
        that first touches the collection (0.7 s for 900 writes at 25,000 passages: most of the
        work of a small store's ``ask``). The writes not saved yet are counted per collection in
        the manifest collection's metadata (``unsaved``), so a run that changed a file or two
        does not pay for a save (about 0.5 s in a full shard) until they add up. A collection
        keeps the threshold it was loaded with, so the client is closed and, on a fresh one,
        each collection due gets a threshold of 1 for one probe write (saving its index) and
        its threshold back.
        """
        written, self._written = dict(self._written), {}
        if self.location.is_server or not written:
            with contextlib.suppress(Exception):
                self.client.close()
            return
        try:
            unsaved = {
                str(k): int(v) for k, v in json.loads(str((self.files.metadata or {}).get("unsaved", "{}"))).items()
            }
        except (TypeError, ValueError, AttributeError):
            unsaved = {}
        for name, count in written.items():
            unsaved[name] = unsaved.get(name, 0) + count
        due = sorted(name for name, count in unsaved.items() if count >= SAVE_AFTER_WRITES)
        client = self.client
        if due:
            with contextlib.suppress(Exception):
                self.client.close()
            client = make_client(self.location)
        dimension = int(dict(self.passages.metadata or {}).get("embedding_dimension") or 0)
        try:
            for name in due:
                if self._save_index(client, name, 1 if name == FILES else dimension):
                    unsaved.pop(name)
            files = client.get_collection(FILES)
            meta = {k: v for k, v in dict(files.metadata or {}).items() if not k.startswith("hnsw:")}
            meta["unsaved"] = json.dumps(unsaved, sort_keys=True)
            files.modify(metadata=meta)
        except KeyboardInterrupt:
            raise
        except Exception:  # saving early is an optimisation: the log stays valid
            logger.debug("could not save the vector indexes of %s early", self.location, exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                client.close()  # (an open client would keep Chroma's loaded indexes: see above)

    @staticmethod
    def _save_index(client: Any, name: str, width: int) -> bool:
        """Save collection ``name``'s vector index now (see :meth:`finish`); False if it could not."""
        import numpy as np

        if width <= 0:
            return False
        try:
            collection = client.get_collection(name)
        except Exception:  # noqa: BLE001 - a shard removed since: nothing to save
            return True
        try:
            collection.modify(configuration={"hnsw": {"sync_threshold": 1}})
            with deferred_interrupt():
                collection.upsert(ids=[_FLUSH_PROBE], embeddings=np.ones((1, width), dtype=np.float32))
                collection.delete(ids=[_FLUSH_PROBE])
        except KeyboardInterrupt:
            raise
        except Exception:  # (the log stays valid: it is replayed as before)
            logger.debug("could not save the vector index of %s early", name, exc_info=True)
            return False
        finally:
            with contextlib.suppress(Exception):
                collection.modify(configuration={"hnsw": {"sync_threshold": _DEFAULT_SYNC_THRESHOLD}})
        return True

    # ------------------------------------------------------------------ Haystack
    def haystack_store(self, shard: int = 0) -> Any:
        """A chroma-haystack ``ChromaDocumentStore`` on passage shard ``shard`` (for
        ``ChromaEmbeddingRetriever``). Its scores are cosine distances; see :meth:`similarity`."""
        from haystack_integrations.document_stores.chroma import ChromaDocumentStore

        settings = {"anonymized_telemetry": False, "allow_reset": False}
        if self.location.url is not None:
            parts = urlsplit(self.location.url)
            ssl = parts.scheme == "https"
            if ssl:
                settings["chroma_server_ssl_enabled"] = True
            return ChromaDocumentStore(
                collection_name=shard_name(shard),
                host=parts.hostname,
                port=parts.port or (443 if ssl else 8000),
                distance_function="cosine",
                client_settings=settings,
            )
        assert self.location.path is not None
        return ChromaDocumentStore(
            collection_name=shard_name(shard),
            persist_path=str(self.location.path.resolve()),
            distance_function="cosine",
            client_settings=settings,
        )

    @staticmethod
    def similarity(distance: Any) -> float | None:
        """Cosine similarity from Chroma's cosine distance; None for anything not a finite number."""
        if not isinstance(distance, (int, float)) or not math.isfinite(distance):
            return None
        return 1.0 - float(distance)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run a store operation, turning chromadb failures into :class:`StoreError`."""
        return self._call(fn)

    # ------------------------------------------------------------------ helpers
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (KeyboardInterrupt, StoreError):
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb/HTTP errors of every kind
            raise StoreError(
                f"The store {self.location} failed: {type(exc).__name__}: {str(exc)[:300]}. If it is damaged, "
                f"re-index with 'hayswitch index ... --store {self.location} --rebuild'."
            ) from None


def _shard_metadata() -> dict[str, Any]:
    return {"hnsw:space": "cosine", "hayswitch_format": FORMAT}


def _distance_key(score: Any) -> float:
    """Sort key for Chroma distances: unusable scores (None, NaN) last."""
    return float(score) if isinstance(score, (int, float)) and math.isfinite(score) else math.inf


def _name(collection: Any) -> str:
    return collection if isinstance(collection, str) else str(collection.name)


def _opens(location: StoreLocation) -> bool:
    """Whether an embedded store can be opened and listed (used to decide whether --rebuild must
    clear the folder's Chroma files)."""
    try:
        client = make_client(location)
        client.list_collections()
        client.close()
    except Exception:  # noqa: BLE001
        return False
    return True


def _wipe_embedded(target: Path) -> None:
    """Remove a damaged embedded store's Chroma files (only those: the database, its journal and
    the segment folders), keeping the folder itself, its mode and a symlink to it."""
    import shutil

    for entry in target.iterdir():
        if entry.name.startswith("chroma.sqlite3"):
            entry.unlink(missing_ok=True)
        elif entry.is_dir() and len(entry.name) == 36 and entry.name.count("-") == 4:
            shutil.rmtree(entry, ignore_errors=True)
    with contextlib.suppress(Exception):
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()


@contextlib.contextmanager
def _file_lock(path: Path, *, timeout: float, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    from filelock import FileLock, Timeout

    target = path.resolve()
    if target.is_dir() and not (target / "chroma.sqlite3").exists():
        strangers = sorted(p.name for p in target.iterdir() if p.name != LOCK_FILE)
        if strangers:
            shown = ", ".join(strangers[:3]) + (", ..." if len(strangers) > 3 else "")
            raise StoreError(
                f"--store {path} is a folder that holds other files ({shown}) and no store: hayswitch will not "
                f"write its store among them. Choose a new or empty folder (default {DEFAULT_STORE})."
            )
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create the store folder {path}: {exc.strerror or exc}. Choose another --store."
        ) from None
    if not target.is_dir():
        raise StoreError(f"--store {path} is not a folder. Choose another --store.")
    lock = FileLock(str(target / LOCK_FILE), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            wait = "as long as it takes" if timeout < 0 else f"up to {timeout:g}s, --lock-timeout"
            on_wait(f"another 'hayswitch index' run is writing to {path}; waiting for it to finish ({wait})")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise StoreBusyError(
                f"Another 'hayswitch index' run is still writing to {path} after {timeout:g}s. Wait for it to finish "
                "and run again, or pass --lock-timeout with a longer wait (-1 waits as long as it takes)."
            ) from None
    except OSError as exc:
        raise StoreError(f"Cannot lock the store {path}: {exc.strerror or exc}. Check its permissions.") from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _server_lock(location: StoreLocation, *, timeout: float, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    import socket

    client = make_client(location)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    deadline = None if timeout < 0 else time.monotonic() + timeout
    told = False
    while True:
        try:
            client.create_collection(LOCK_COLLECTION, metadata=me, embedding_function=None)
            break
        except Exception as exc:  # noqa: BLE001 - "already exists" or a connection problem
            try:
                holder = client.get_collection(LOCK_COLLECTION).metadata or {}
            except Exception:  # noqa: BLE001
                if "exist" in str(exc).lower():
                    continue  # released between our two calls
                raise StoreError(_open_failure(location, exc)) from None
        if holder.get("host") == me["host"] and not _alive(int(holder.get("pid", 0) or 0)):
            with contextlib.suppress(Exception):
                client.delete_collection(LOCK_COLLECTION)  # left by a process of this machine that died
            continue
        if deadline is not None and time.monotonic() >= deadline:
            raise StoreBusyError(
                f"Another 'hayswitch index' run (host {holder.get('host')}, pid {holder.get('pid')}) is writing to "
                f"{location}. Wait for it and run again, or pass --lock-timeout with a longer wait. If that run is "
                f"gone, delete the Chroma collection {LOCK_COLLECTION!r} on the server."
            )
        if not told and on_wait is not None:
            on_wait(
                f"another 'hayswitch index' run (host {holder.get('host')}, pid {holder.get('pid')}) is writing "
                f"to {location}; waiting for it to finish"
            )
            told = True
        time.sleep(0.2)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            client.delete_collection(LOCK_COLLECTION)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
