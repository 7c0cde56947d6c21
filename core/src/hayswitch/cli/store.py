"""The document store of ``hayswitch index`` / ``hayswitch ask``: a Chroma collection of embedded
passages plus a manifest of the indexed files, with the lock that serialises index runs.

``--store`` names either a folder (an embedded, persistent Chroma database; default
``.hayswitch/store``; no server to start) or a server URL (``http://host:8000``, e.g. ``chroma run
--path FOLDER``, which serves the same folder format). Both hold two collections:

* ``hayswitch_passages``: one record per passage (id, text, vector, meta ``file_path``,
  ``passage``, ``heading``, ``file_key``, ``file_sha256``), searched by cosine similarity. Its
  collection metadata records the embedding space and the splitter settings
  (``embedding_provider``, ``embedding_model``, ``embedding_dimension``, ``splitter``), which
  every ``index`` and ``ask`` checks before embedding anything.
* ``hayswitch_files``: one record per indexed file (id = resolved path, meta ``sha256``, ``path``,
  ``passages``), the per-file content hashes behind incremental runs.

A passage's id is derived from its file and content hash (``<file digest>-<sha256 prefix>-<n>``),
so the ids of a file's old passages follow from its manifest record and a changed file is
replaced by: upsert the new passages, upsert the manifest record, delete the old ids. Those three
calls form one commit per group of files, during which Ctrl-C is held back (see
:func:`deferred_interrupt`); a crash between them (power loss, SIGKILL) leaves passages that no
manifest record accounts for, which the next ``index`` run finds (passage count != manifest total)
and removes.

Haystack and chromadb are imported lazily, so registering the CLI commands stays cheap.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
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
    "collect_files",
    "deferred_interrupt",
    "display_path",
    "passage_id",
    "stat_signature",
]

DEFAULT_STORE = Path(".hayswitch") / "store"
FORMAT = "hayswitch-chroma-1"
PASSAGES = "hayswitch_passages"
FILES = "hayswitch_files"
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


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _excluded(relative: PurePosixPath, patterns: Sequence[str]) -> bool:
    """Whether a file (path relative to the folder being walked) matches an exclude pattern: the
    pattern is matched (fnmatch) against the file's relative path and each of its parent folders,
    so ``api`` leaves out the folder ``api/`` and ``*.draft.md`` every draft."""
    candidates = [relative.as_posix(), *(parent.as_posix() for parent in relative.parents if parent.parts)]
    return any(fnmatch.fnmatch(c, pattern.strip("/")) for pattern in patterns for c in candidates)


def _kinds() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


def collect_files(paths: Sequence[Path], exclude: Sequence[str] = ()) -> tuple[list[Path], list[str]]:
    """The supported files (:data:`SUPPORTED_SUFFIXES`) named by ``paths`` (folders are walked
    recursively; hidden files and folders such as ``.git`` are skipped), resolved, de-duplicated and
    sorted. An empty result is not an error here: a folder whose files were all deleted must still
    let ``index`` remove their passages.

    :param exclude: glob patterns, relative to each folder walked, of files or folders to leave out.
    :returns: the files and one warning per path that contributed nothing.
    :raises InvalidInputError: if no path is given or a path does not exist.
    """
    if not paths:
        raise InvalidInputError("Give at least one file or folder to index.")
    found: dict[Path, None] = {}
    warnings: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(f"{raw} does not exist. Pass existing files or folders ({_kinds()} files).")
        if path.is_dir():
            root = path.resolve()
            files = sorted(
                p
                for p in root.rglob("*")
                if p.suffix.lower() in SUPPORTED_SUFFIXES
                and not _is_hidden(p, root)
                and not (exclude and _excluded(PurePosixPath(p.relative_to(root).as_posix()), exclude))
                and p.is_file()
            )
            if not files:
                warnings.append(f"{raw}: no {_kinds()} files in this folder")
            for f in files:
                found.setdefault(f, None)
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            found.setdefault(path.resolve(), None)
        else:
            warnings.append(f"{raw}: skipped (only {_kinds()} files are indexed)")
    return sorted(found), warnings


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
    """One indexed file: its resolved path (key), shown path, content hash and passage count, and
    the size and modification time (ns) it had when it was hashed (None when not trusted: see
    :func:`stat_signature`)."""

    key: str
    path: str
    sha256: str
    passages: int
    size: int | None = None
    mtime_ns: int | None = None

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


class PassageStore:
    """A hayswitch store opened on a Chroma client (see the module docstring).

    Use :meth:`open` (for ``ask``) or :meth:`open_for_indexing`. All chromadb errors surface as
    :class:`StoreError` with a message saying what to do.
    """

    def __init__(self, location: StoreLocation, client: Any, passages: Any, files: Any) -> None:
        self.location = location
        self.client = client
        self.passages = passages
        self.files = files
        self._max_batch = 5000
        with contextlib.suppress(Exception):
            self._max_batch = max(1, min(int(client.get_max_batch_size()), 5000))

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
        try:
            passages = client.get_collection(PASSAGES)
            files = client.get_or_create_collection(FILES) if FILES in names else None
        except Exception as exc:  # noqa: BLE001
            raise StoreError(_open_failure(location, exc)) from None
        if files is None:
            raise StoreError(
                f"The store {location} is incomplete (no file manifest). Re-index it with "
                f"'hayswitch index ... --store {location} --rebuild'."
            )
        return cls(location, client, passages, files)

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
            if rebuild:
                for name in (PASSAGES, FILES):
                    if name in names:
                        client.delete_collection(name)
                names -= {PASSAGES, FILES}
            elif location.path is not None and PASSAGES not in names and names - {FILES, LOCK_COLLECTION}:
                # Someone else's Chroma database: never write into it unless asked to replace it.
                raise StoreError(
                    f"{location} holds a Chroma database that is not a hayswitch store (collections: "
                    f"{', '.join(sorted(names))}). Choose another --store, or replace it with --rebuild."
                )
            passages = client.get_or_create_collection(
                PASSAGES, metadata={"hnsw:space": "cosine", "hayswitch_format": FORMAT}, embedding_function=None
            )
            files = client.get_or_create_collection(FILES, embedding_function=None)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreError(_open_failure(location, exc)) from None
        return cls(location, client, passages, files)

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
        return int(self._call(self.passages.count))

    def manifest(self) -> dict[str, FileRecord]:
        """Every indexed file's record, keyed by resolved path (read in pages)."""
        records: dict[str, FileRecord] = {}
        offset = 0
        while True:
            page = self._call(self.files.get, include=["metadatas"], limit=_PAGE, offset=offset)
            ids = page.get("ids") or []
            for key, meta in zip(ids, page.get("metadatas") or [], strict=False):
                meta = meta or {}
                try:
                    size, mtime = meta.get("size"), meta.get("mtime_ns")
                    known = isinstance(size, int) and isinstance(mtime, int) and size >= 0 and mtime >= 0
                    records[key] = FileRecord(
                        key=key,
                        path=str(meta["path"]),
                        sha256=str(meta["sha256"]),
                        passages=int(meta["passages"]),
                        size=size if known else None,
                        mtime_ns=mtime if known else None,
                    )
                except (KeyError, TypeError, ValueError):
                    records[key] = FileRecord(key=key, path=key, sha256="", passages=0)  # re-indexed on next run
            if len(ids) < _PAGE:
                return records
            offset += _PAGE

    # ------------------------------------------------------------------ writing
    def commit(self, updates: Sequence[FileUpdate], removed: Sequence[FileRecord] = ()) -> None:
        """Replace the passages of the files in ``updates`` and drop those of ``removed`` in one
        step that Ctrl-C cannot cut (new passages first, then the manifest, then the old ids)."""
        ids: list[str] = []
        embeddings: list[list[float]] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        owners: list[tuple[str, int]] = []  # (file, passage number) of each vector, for error messages
        for update in updates:
            rec = update.record
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
        stale = [i for u in updates if u.previous for i in u.previous.ids() if i not in new_ids]
        stale += [i for r in removed for i in r.ids()]
        with deferred_interrupt():
            for start in range(0, len(ids), self._max_batch):
                end = start + self._max_batch
                self._call(
                    self.passages.upsert,
                    ids=ids[start:end],
                    embeddings=vectors[start:end],
                    documents=texts[start:end],
                    metadatas=metas[start:end],
                )
            self._write_records([u.record for u in updates])
            gone = [r.key for r in removed]
            for start in range(0, len(gone), self._max_batch):
                self._call(self.files.delete, ids=gone[start : start + self._max_batch])
            for start in range(0, len(stale), self._max_batch):
                self._call(self.passages.delete, ids=stale[start : start + self._max_batch])

    def _write_records(self, records: Sequence[FileRecord]) -> None:
        for start in range(0, len(records), self._max_batch):
            chunk = records[start : start + self._max_batch]
            self._call(
                self.files.upsert,
                ids=[r.key for r in chunk],
                embeddings=[[0.0] for _ in chunk],
                metadatas=[_record_meta(r) for r in chunk],
            )

    def refresh_records(self, records: Sequence[FileRecord]) -> None:
        """Rewrite manifest records whose passages are unchanged (to record a file's size and
        modification time, so that the next run need not hash it)."""
        with deferred_interrupt():
            self._write_records(records)

    def repair(self, manifest: dict[str, FileRecord]) -> int:
        """Delete passages that no manifest record accounts for (left by a crash mid-commit);
        returns how many. Cheap when the store is consistent (one count)."""
        expected_total = sum(r.passages for r in manifest.values())
        if self.count() == expected_total:
            return 0
        expected = {i for r in manifest.values() for i in r.ids()}
        orphans: list[str] = []
        offset = 0
        while True:
            page = self._call(self.passages.get, include=[], limit=_PAGE, offset=offset)
            page_ids = page.get("ids") or []
            orphans.extend(i for i in page_ids if i not in expected)
            if len(page_ids) < _PAGE:
                break
            offset += _PAGE
        with deferred_interrupt():
            for start in range(0, len(orphans), self._max_batch):
                self._call(self.passages.delete, ids=orphans[start : start + self._max_batch])
        return len(orphans)

    # ------------------------------------------------------------------ Haystack
    def haystack_store(self) -> Any:
        """A chroma-haystack ``ChromaDocumentStore`` on the same passages collection (for
        ``ChromaEmbeddingRetriever``). Its scores are cosine distances; see :meth:`similarity`."""
        from haystack_integrations.document_stores.chroma import ChromaDocumentStore

        settings = {"anonymized_telemetry": False, "allow_reset": False}
        if self.location.url is not None:
            parts = urlsplit(self.location.url)
            ssl = parts.scheme == "https"
            if ssl:
                settings["chroma_server_ssl_enabled"] = True
            return ChromaDocumentStore(
                collection_name=PASSAGES,
                host=parts.hostname,
                port=parts.port or (443 if ssl else 8000),
                distance_function="cosine",
                client_settings=settings,
            )
        assert self.location.path is not None
        return ChromaDocumentStore(
            collection_name=PASSAGES,
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


def _record_meta(record: FileRecord) -> dict[str, Any]:
    # Always both keys (-1: not recorded): an upsert merges metadata, so a key left out would keep
    # the value of the file's previous version.
    known = record.size is not None and record.mtime_ns is not None
    return {
        "path": record.path,
        "sha256": record.sha256,
        "passages": record.passages,
        "size": record.size if known else -1,
        "mtime_ns": record.mtime_ns if known else -1,
    }


def _name(collection: Any) -> str:
    return collection if isinstance(collection, str) else str(collection.name)


def _opens(location: StoreLocation) -> bool:
    """Whether an embedded store can be opened and listed (used to decide whether --rebuild must
    clear the folder's Chroma files)."""
    try:
        make_client(location).list_collections()
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
