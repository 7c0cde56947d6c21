"""Collect the ```python code blocks of the documentation pages, in order, with their markers.

A block can be preceded (blank lines allowed in between) by one HTML comment that changes how the
docs test treats it; the comment is invisible on the rendered site but visible in the source:

* ``<!-- docs-test: skip REASON -->`` -- do not run the block (file contents shown for reading, or
  a block that needs a live external service). The reason is mandatory and is reported.
* ``<!-- docs-test: local -->`` -- run the page with the ``local`` provider installed (the page
  test is skipped, with that reason, where ``hayswitch-local`` is not installed).

Every other block runs. Blocks of one page share one namespace, in page order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CodeBlock", "ROOT", "doc_pages", "extract_blocks"]

ROOT = Path(__file__).resolve().parents[2]

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>[a-z-]+)(?P<arg>.*?)-->\s*$")
_PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block of a page.

    :param page: the page path relative to the repository root.
    :param line: the 1-based line of the first code line (after the opening fence).
    :param code: the code, dedented to the fence's indentation.
    :param skip: the reason given by a ``skip`` marker, or None.
    :param needs_local: a ``local`` marker precedes the block.
    """

    page: str
    line: int
    code: str
    skip: str | None = None
    needs_local: bool = False

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


class MarkerError(ValueError):
    """A docs-test marker is malformed (unknown kind, or a skip without a reason)."""


def extract_blocks(text: str, page: str) -> list[CodeBlock]:
    """The python blocks of a Markdown page, with the markers that precede them.

    :raises MarkerError: for an unknown marker, a skip without a reason, or an unclosed fence.
    """
    lines = text.splitlines()
    blocks: list[CodeBlock] = []
    pending: tuple[str, str, int] | None = None  # (kind, arg, line) of the last marker
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        if marker:
            kind, arg = marker["kind"], marker["arg"].strip()
            if kind not in {"skip", "local"}:
                raise MarkerError(f"{page}:{i + 1}: unknown docs-test marker {kind!r} (use 'skip REASON' or 'local').")
            if kind == "skip" and not arg:
                raise MarkerError(f"{page}:{i + 1}: 'docs-test: skip' needs a reason.")
            pending = (kind, arg, i + 1)
            i += 1
            continue
        opening = _FENCE_OPEN.match(line)
        if not opening:
            if line.strip() and pending is not None:
                raise MarkerError(f"{page}:{pending[2]}: a docs-test marker must come right before a code block.")
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].strip().split()
        language = info[0].lstrip("{.").rstrip("}") if info else ""
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        else:
            raise MarkerError(f"{page}:{i + 1}: code fence is never closed.")
        if language in _PYTHON:
            skip = pending[1] if pending and pending[0] == "skip" else None
            local = bool(pending and pending[0] == "local")
            blocks.append(CodeBlock(page=page, line=i + 2, code="\n".join(body) + "\n", skip=skip, needs_local=local))
        elif pending is not None:
            raise MarkerError(f"{page}:{pending[2]}: docs-test markers apply to python blocks only.")
        pending = None
        i = j + 1
    return blocks


def doc_pages(root: Path = ROOT) -> list[Path]:
    """Every documentation page: ``docs/**/*.md`` and the README, sorted."""
    pages = sorted((root / "docs").rglob("*.md"))
    readme = root / "README.md"
    return [*pages, readme] if readme.is_file() else pages
