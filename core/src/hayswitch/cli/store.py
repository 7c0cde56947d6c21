"""The index file of ``hayswitch index`` / ``hayswitch ask``: reading a corpus, splitting it into
passages, and a versioned JSON store of the embedded passages with per-file content hashes.

The store file (default ``.hayswitch/store.json``) holds::

    {
      "format": "hayswitch-index", "version": 1,
      "embedding": {"provider": "local", "model": "...", "dimension": 384},
      "splitter": {"sections": "markdown-headings", "split_by": "word", ...},
      "files": {"/abs/path/a.md": {"sha256": "...", "path": "docs/a.md", "passages": 3}},
      "documents": [<haystack Document dicts with their embeddings>]
    }

It is written atomically (a temporary file renamed over the old one), so an interrupted run never
leaves a half-written index. A file that cannot be read as such an index is never overwritten
unless the caller asks for a rebuild.

Haystack is imported lazily (inside the functions that need it), so registering the CLI commands
stays cheap.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from hayswitch.errors import ConfigurationError, InvalidInputError

if TYPE_CHECKING:
    from haystack import Document

__all__ = [
    "DEFAULT_STORE",
    "FORMAT",
    "SPLITTER",
    "SUPPORTED_SUFFIXES",
    "VERSION",
    "CorpusFile",
    "EmbeddingMismatchError",
    "IndexStore",
    "StoreError",
    "StoreNotFoundError",
    "check_embedding_space",
    "collect_files",
    "display_path",
    "markdown_sections",
    "read_corpus_file",
    "split_text",
]

DEFAULT_STORE = Path(".hayswitch") / "store.json"
FORMAT = "hayswitch-index"
VERSION = 1
SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt")
SPLITTER: dict[str, Any] = {
    "sections": "markdown-headings",
    "split_by": "word",
    "split_length": 80,
    "split_overlap": 15,
}
"""Markdown is cut at headings, then into passages of at most 80 words with a 15-word overlap.
Technical text (code, paths, identifiers) takes 2-3 word pieces per word, so 80 words stay within
all-MiniLM-L6-v2's 256-token window, which keeps each whole passage in its vector, and three
passages make a short prompt for a small model. The settings are stored in the index; changing
them re-embeds every file."""


class StoreError(InvalidInputError):
    """The index file is unreadable, corrupt, or of an unknown format/version."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """There is no index file at the given path."""


class EmbeddingMismatchError(ConfigurationError):
    """The configured embedding provider/model differs from the one the index was built with."""


def display_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to the working directory when it is under it, else absolute (POSIX form)."""
    base = (cwd or Path.cwd()).resolve()
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _excluded(relative: PurePosixPath, patterns: Sequence[str]) -> bool:
    """Whether a file (path relative to the folder being walked) matches an exclude pattern: the
    pattern is matched (fnmatch) against the file's relative path and each of its parent folders,
    so ``api`` leaves out the folder ``api/`` and ``*.draft.md`` every draft."""
    candidates = [relative.as_posix(), *(parent.as_posix() for parent in relative.parents if parent.parts)]
    return any(fnmatch.fnmatch(c, pattern.strip("/")) for pattern in patterns for c in candidates)


def collect_files(paths: Sequence[Path], exclude: Sequence[str] = ()) -> tuple[list[Path], list[str]]:
    """The ``.md`` / ``.txt`` files named by ``paths`` (folders are walked recursively; hidden
    files and folders such as ``.git`` are skipped), resolved, de-duplicated and sorted.

    :param exclude: glob patterns, relative to each folder walked, of files or folders to leave out.

    :returns: the files and one warning per path that contributed nothing.
    :raises InvalidInputError: if a path does not exist, or no supported file is found at all.
    """
    if not paths:
        raise InvalidInputError("Give at least one file or folder to index.")
    found: dict[Path, None] = {}
    warnings: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(f"{raw} does not exist. Pass existing files or folders of .md / .txt files.")
        if path.is_dir():
            root = path.resolve()
            files = sorted(
                p
                for p in root.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not _is_hidden(p, root)
                and not _excluded(PurePosixPath(p.relative_to(root).as_posix()), exclude)
            )
            if not files:
                warnings.append(f"{raw}: no .md or .txt files in this folder")
            for f in files:
                found.setdefault(f, None)
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            found.setdefault(path.resolve(), None)
        else:
            warnings.append(f"{raw}: skipped (only {', '.join(SUPPORTED_SUFFIXES)} files are indexed)")
    if not found:
        listed = ", ".join(str(p) for p in paths)
        details = "".join(f"\n  - {w}" for w in warnings)
        raise InvalidInputError(
            f"No .md or .txt files found in {listed}. Point 'hayswitch index' at folders or files containing "
            f"text.{details}"
        )
    return sorted(found), warnings


@dataclass(frozen=True)
class CorpusFile:
    """One readable text file of the corpus.

    :param key: the resolved absolute path (the store's key).
    :param path: the path shown to users (relative to the working directory when possible).
    :param text: the decoded content.
    :param sha256: hash of the raw bytes (decides whether the file changed).
    """

    key: str
    path: str
    text: str
    sha256: str


def read_corpus_file(path: Path) -> CorpusFile | str:
    """Read a corpus file as UTF-8 text.

    :returns: the file, or a reason to skip it (binary, not UTF-8, unreadable, empty).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if b"\x00" in data[:8192]:
        return "looks like a binary file (contains NUL bytes)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return f"is not valid UTF-8 (byte {exc.start}); convert it to UTF-8 to index it"
    if not text.strip():
        return "is empty"
    return CorpusFile(
        key=path.resolve().as_posix(), path=display_path(path), text=text, sha256=hashlib.sha256(data).hexdigest()
    )


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str, title: str) -> list[tuple[str, str]]:
    """Cut markdown at its headings (ignoring ``#`` lines inside code fences).

    :param title: the heading used for text before the first heading (e.g. the file name).
    :returns: ``(heading trail, body)`` pairs, e.g. ``("Writing a provider > 2. The entry point", ...)``;
        sections without body text are dropped.
    """
    sections: list[tuple[str, str]] = []
    trail: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            sections.append((" > ".join(h for _, h in trail) or title, content))
        body.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            trail = [(lvl, h) for lvl, h in trail if lvl < level] + [(level, match.group(2).strip())]
        else:
            body.append(line)
    flush()
    return sections


def split_text(file: CorpusFile, splitter: dict[str, Any] | None = None) -> list[Document]:
    """Clean and split one file into passages with Haystack's ``DocumentCleaner`` and
    ``DocumentSplitter``.

    Markdown files are first cut at their headings, so a passage never straddles two sections
    and carries its heading trail (``meta["heading"]``, embedded along with the passage text and
    shown to the model). Each passage's meta also holds ``file_path`` (as shown to users),
    ``passage`` (1-based number within the file), ``file_key`` (the resolved path the store is
    keyed by) and ``file_sha256``.
    """
    from haystack import Document
    from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter

    params = dict(SPLITTER if splitter is None else splitter)
    cleaner = DocumentCleaner(remove_empty_lines=True, remove_extra_whitespaces=True)
    doc_splitter = DocumentSplitter(
        split_by=params["split_by"], split_length=params["split_length"], split_overlap=params["split_overlap"]
    )
    doc_splitter.warm_up()
    title = Path(file.path).stem.replace("-", " ").replace("_", " ")
    if Path(file.path).suffix.lower() in (".md", ".markdown"):
        sections = markdown_sections(file.text, title)
    else:
        sections = [(title, file.text)]
    sources = [Document(content=body, meta={"heading": heading}) for heading, body in sections]
    cleaned = cleaner.run(documents=sources)["documents"]
    pieces = doc_splitter.run(documents=cleaned)["documents"]
    passages: list[Document] = []
    for piece in pieces:
        if not piece.content or not piece.content.strip():
            continue
        passages.append(
            Document(
                content=piece.content.strip(),
                meta={
                    "file_path": file.path,
                    "passage": len(passages) + 1,
                    "heading": piece.meta.get("heading", title),
                    "file_key": file.key,
                    "file_sha256": file.sha256,
                },
            )
        )
    return passages


def check_embedding_space(stored: dict[str, Any] | None, current: dict[str, Any], store_path: Path) -> None:
    """Refuse to mix vectors from different embedding spaces.

    :param stored: the ``embedding`` record of the store (None for an empty store).
    :param current: ``{"provider", "model", "dimension"}`` of the configured embedder.
    :raises EmbeddingMismatchError: if provider or model differ, or both dimensions are known and differ.
    """
    if not stored:
        return
    same = stored.get("provider") == current.get("provider") and stored.get("model") == current.get("model")
    dims = (stored.get("dimension"), current.get("dimension"))
    if same and (None in dims or dims[0] == dims[1]):
        return

    def describe(space: dict[str, Any]) -> str:
        dim = f", {space['dimension']} dimensions" if space.get("dimension") else ""
        return f"provider {space.get('provider')!r}, model {space.get('model')!r}{dim}"

    raise EmbeddingMismatchError(
        f"The index {store_path} was built with {describe(stored)}, but the configured embedder is "
        f"{describe(current)}. Vectors from different models cannot be compared. Use the same provider "
        f"(--provider {stored.get('provider')} or the matching --profile), or re-index with the new one "
        "('hayswitch index ... --rebuild', or a separate --store file)."
    )


@dataclass
class IndexStore:
    """The content of an index file (see the module docstring)."""

    embedding: dict[str, Any] | None = None
    splitter: dict[str, Any] = field(default_factory=lambda: dict(SPLITTER))
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)

    # ------------------------------------------------------------------ queries
    def replace_file(self, file: CorpusFile, passages: Iterable[Document]) -> int:
        """Replace the passages of ``file`` by ``passages`` (embedded documents whose meta holds
        ``file_key``); returns how many old passages were dropped."""
        removed = self.remove_file(file.key)
        added = list(passages)
        self.documents.extend(added)
        self.files[file.key] = {"sha256": file.sha256, "path": file.path, "passages": len(added)}
        return removed

    def remove_file(self, key: str) -> int:
        before = len(self.documents)
        self.documents = [d for d in self.documents if d.meta.get("file_key") != key]
        self.files.pop(key, None)
        return before - len(self.documents)

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "embedding": self.embedding,
            "splitter": self.splitter,
            "files": self.files,
            "documents": [d.to_dict(flatten=False) for d in self.documents],
        }

    def save(self, path: Path) -> None:
        """Write the store atomically (temporary file + rename).

        :raises StoreError: if the file cannot be written (permissions, a folder in the way, disk full).
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            raise StoreError(f"Cannot write the index {path}: {exc.strerror or exc}. Choose another --store.") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_json(), fh)
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(f"Cannot write the index {path}: {exc.strerror or exc}. Choose another --store.") from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> IndexStore:
        """Read an index file.

        :raises StoreNotFoundError: if there is no file at ``path``.
        :raises StoreError: if the file is not a readable index of a supported version.
        """
        if not path.exists():
            raise StoreNotFoundError(
                f"There is no index at {path}. Build one first: hayswitch index <folder> --store {path}"
            )
        if path.is_dir():
            raise StoreError(f"{path} is a folder; --store must name an index file (e.g. {DEFAULT_STORE}).")
        from haystack import Document

        hint = f"Delete it or re-index with 'hayswitch index ... --store {path} --rebuild'."
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise StoreError(f"Cannot read the index {path}: {exc.strerror or exc}.") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"The index {path} is corrupt (not valid JSON: {exc}). {hint}") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise StoreError(f"{path} is not a hayswitch index file. {hint}")
        if raw.get("version") != VERSION:
            raise StoreError(
                f"The index {path} has format version {raw.get('version')!r}; this hayswitch reads version "
                f"{VERSION}. {hint}"
            )
        try:
            embedding = raw.get("embedding")
            if embedding is not None and not isinstance(embedding, dict):
                raise TypeError("'embedding' must be an object")
            files = raw["files"]
            if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
                raise TypeError("'files' must map paths to objects")
            documents = [Document.from_dict(d) for d in raw["documents"]]
            for d in documents:
                if d.embedding is None or not isinstance(d.meta.get("file_key"), str):
                    raise TypeError(f"document {d.id} has no embedding or file key")
            splitter = raw.get("splitter") or dict(SPLITTER)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"The index {path} is corrupt ({exc}). {hint}") from exc
        return cls(embedding=embedding, splitter=dict(splitter), files=dict(files), documents=documents)
