"""Turning corpus files into passages with Haystack's own components.

The preprocessing pipeline (:func:`build_preprocessing_pipeline`) routes each file by type:

* Markdown: ``TextFileToDocument`` then ``MarkdownHeaderSplitter``, so a passage never straddles
  two sections and carries its heading trail (``meta["heading"]``, e.g. ``"Guide > Step 1"``),
  which is embedded with the passage and shown to the model;
* plain text: ``TextFileToDocument``;
* PDF: ``PyPDFToDocument`` (pypdf); the splitter keeps each passage's ``page_number``;
* HTML: ``HTMLToDocument`` (trafilatura: the main text, without navigation and boilerplate);

then ``DocumentJoiner`` -> ``DocumentCleaner`` -> ``DocumentSplitter`` (:data:`SPLITTER`). The same
pipeline, followed by an embedder and a document writer, is shipped as a YAML file that Haystack
loads (``examples/pipelines/indexing.yaml``).

Files are handed to the pipeline as ``ByteStream`` objects read once, so the content hash recorded
in the store is the hash of exactly the bytes that were converted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hayswitch.cli.store import display_path

if TYPE_CHECKING:
    from haystack import Document, Pipeline

__all__ = ["MIME_TYPES", "SPLITTER", "ReadFile", "build_preprocessing_pipeline", "read_file", "split_files"]

SPLITTER: dict[str, Any] = {
    "sections": "markdown-headings",
    "split_by": "word",
    "split_length": 80,
    "split_overlap": 15,
}
"""Markdown is cut at headings, then every text into passages of at most 80 words with a 15-word
overlap. Technical text (code, paths, identifiers) takes 2-3 word pieces per word, so 80 words stay
within all-MiniLM-L6-v2's 256-token window, which keeps each whole passage in its vector, and three
passages make a short prompt for a small model. The settings are recorded in the store; a store
built with other settings is refused (re-index it with ``--rebuild``)."""

MIME_TYPES: dict[str, str] = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".htm": "text/html",
}
_TEXT_TYPES = {"text/markdown", "text/plain"}


@dataclass(frozen=True)
class ReadFile:
    """One corpus file read from disk.

    :param key: the resolved absolute path (the store's key).
    :param path: the path shown to users (relative to the working directory when possible).
    :param data: the raw bytes.
    :param sha256: hash of the raw bytes (decides whether the file changed).
    :param size: the file's size when it was read, with ``mtime_ns`` its modification time (None
        when they cannot be trusted to show the next change: :func:`~hayswitch.cli.store.stat_signature`).
    """

    key: str
    path: str
    data: bytes
    sha256: str
    size: int | None = None
    mtime_ns: int | None = None

    @property
    def mime_type(self) -> str:
        return MIME_TYPES.get(Path(self.key).suffix.lower(), "text/plain")


def read_file(path: Path, *, key: str | None = None, shown: str | None = None) -> ReadFile | str:
    """Read a corpus file; text files must be UTF-8.

    :param key: the file's store key (its resolved path) when the caller has it; ``shown`` likewise
        its displayed path.
    :returns: the file, or a reason to skip it (binary, not UTF-8, unreadable, empty).
    """
    from hayswitch.cli.store import stat_signature

    try:
        with path.open("rb") as handle:
            st = os.fstat(handle.fileno())
            data = handle.read()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not data.strip():
        return "is empty"
    mime = MIME_TYPES.get(path.suffix.lower(), "text/plain")
    if mime in _TEXT_TYPES:
        if b"\x00" in data[:8192]:
            return "looks like a binary file (contains NUL bytes)"
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return f"is not valid UTF-8 (byte {exc.start}); convert it to UTF-8 to index it"
    size, mtime_ns = stat_signature(st, len(data))
    return ReadFile(
        key=key if key is not None else path.resolve().as_posix(),
        path=shown if shown is not None else display_path(path),
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        size=size,
        mtime_ns=mtime_ns,
    )


def build_preprocessing_pipeline(splitter: dict[str, Any] | None = None) -> Pipeline:
    """The converting and splitting part of the indexing pipeline (see the module docstring).

    Input: ``router.sources`` (paths or ``ByteStream`` objects with a ``mime_type``); output:
    ``splitter.documents``.
    """
    from haystack import Pipeline
    from haystack.components.converters import (
        HTMLToDocument,
        PyPDFToDocument,
        TextFileToDocument,
    )
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter, MarkdownHeaderSplitter
    from haystack.components.routers import FileTypeRouter

    params = dict(SPLITTER if splitter is None else splitter)
    pipeline = Pipeline()
    pipeline.add_component(
        "router",
        FileTypeRouter(
            mime_types=["text/markdown", "text/plain", "application/pdf", "text/html"],
            additional_mimetypes={"text/markdown": ".md"},
        ),
    )
    pipeline.add_component("markdown", TextFileToDocument(encoding="utf-8-sig"))
    pipeline.add_component("sections", MarkdownHeaderSplitter(keep_headers=False))
    pipeline.add_component("text", TextFileToDocument(encoding="utf-8-sig"))
    pipeline.add_component("pdf", PyPDFToDocument())
    pipeline.add_component("html", HTMLToDocument())
    pipeline.add_component("joiner", DocumentJoiner(join_mode="concatenate", sort_by_score=False))
    pipeline.add_component("cleaner", DocumentCleaner(remove_empty_lines=True, remove_extra_whitespaces=True))
    pipeline.add_component(
        "splitter",
        DocumentSplitter(
            split_by=params["split_by"], split_length=params["split_length"], split_overlap=params["split_overlap"]
        ),
    )
    pipeline.connect("router.text/markdown", "markdown.sources")
    pipeline.connect("markdown.documents", "sections.documents")
    pipeline.connect("sections.documents", "joiner.documents")
    pipeline.connect("router.text/plain", "text.sources")
    pipeline.connect("text.documents", "joiner.documents")
    pipeline.connect("router.application/pdf", "pdf.sources")
    pipeline.connect("pdf.documents", "joiner.documents")
    pipeline.connect("router.text/html", "html.sources")
    pipeline.connect("html.documents", "joiner.documents")
    pipeline.connect("joiner.documents", "cleaner.documents")
    pipeline.connect("cleaner.documents", "splitter.documents")
    return pipeline


_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}(\s|$)")


def _has_body(data: bytes) -> bool:
    """Whether Markdown has a non-blank line that is not a heading."""
    text = data.decode("utf-8-sig", errors="replace")
    return any(line.strip() and not _HEADING_LINE.match(line) for line in text.splitlines())


def _heading(meta: dict[str, Any], title: str) -> str:
    trail = [str(h) for h in (meta.get("parent_headers") or []) if h]
    if meta.get("header"):
        trail.append(str(meta["header"]))
    return " > ".join(trail) or title


def split_files(pipeline: Pipeline, files: Sequence[ReadFile]) -> dict[str, list[Document]]:
    """Run ``pipeline`` on ``files``; returns each file's passages (in order, numbered from 1 in
    ``meta["passage"]``, with ``file_path``, ``heading``, ``file_key``, ``file_sha256``; PDF
    passages also ``page_number``). A file that yields no text maps to an empty list."""
    from haystack import Document
    from haystack.dataclasses import ByteStream

    sources = [
        ByteStream(data=f.data, mime_type=f.mime_type, meta={"file_key": f.key, "file_path": f.path}) for f in files
    ]
    with _quiet_converters():
        result = pipeline.run({"router": {"sources": sources}})
    by_key: dict[str, list[Document]] = {f.key: [] for f in files}
    # Haystack's MarkdownHeaderSplitter returns a file of headings only as one chunk of headings;
    # such a file has no text to retrieve (and must not keep its old passages).
    headings_only = {f.key for f in files if f.mime_type == "text/markdown" and not _has_body(f.data)}
    titles = {f.key: Path(f.path).stem.replace("-", " ").replace("_", " ") for f in files}
    shas = {f.key: f.sha256 for f in files}
    shown = {f.key: f.path for f in files}  # (converters may rewrite file_path to a base name)
    for piece in result["splitter"]["documents"]:
        key = piece.meta.get("file_key")
        content = (piece.content or "").strip()
        if key not in by_key or not content or key in headings_only:
            continue
        meta: dict[str, Any] = {
            "file_path": shown[key],
            "passage": len(by_key[key]) + 1,
            "heading": _heading(piece.meta, titles[key]),
            "file_key": key,
            "file_sha256": shas[key],
        }
        if isinstance(piece.meta.get("page_number"), int) and Path(key).suffix.lower() == ".pdf":
            meta["page_number"] = piece.meta["page_number"]
        by_key[key].append(Document(content=content, meta=meta))
    return by_key


class _quiet_converters:
    """Converters log a warning and skip a file they cannot convert; the caller reports such files
    itself (as files without text), so those log lines are held back."""

    _names = ("haystack.components.converters", "haystack.components.preprocessors", "pypdf")

    def __enter__(self) -> None:
        self._levels = [(logging.getLogger(n), logging.getLogger(n).level) for n in self._names]
        for logger, _ in self._levels:
            logger.setLevel(logging.ERROR + 10)

    def __exit__(self, *exc: object) -> None:
        for logger, level in self._levels:
            logger.setLevel(level)


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
