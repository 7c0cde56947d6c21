"""Every ```python block of every documentation page runs, so the docs cannot rot.

One test per page; the page's blocks share one namespace and run in order, on the ``fake``
provider (``HAYSWITCH_PROVIDER=fake``) in an empty working directory that holds a copy of
``examples/``. Markers (see :mod:`tests.docs.docblocks`) skip a block with a stated reason or ask
for the ``local`` provider. A failing block fails the test with the page and line.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import os
import shutil
import sys
import traceback
import types
from pathlib import Path

import pytest

from .docblocks import ROOT, CodeBlock, MarkerError, doc_pages, extract_blocks

PAGES = doc_pages()


def _page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _local_installed() -> bool:
    return importlib.util.find_spec("hayswitch_local") is not None


@pytest.fixture
def docs_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory with a copy of examples/ (pages refer to examples/notes etc.)."""
    examples = ROOT / "examples"
    if examples.is_dir():
        shutil.copytree(
            examples,
            tmp_path / "examples",
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".pytest_cache"),
        )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    return tmp_path


def _run_block(block: CodeBlock, namespace: dict[str, object]) -> None:
    # Pad with newlines so that tracebacks show the page's own line numbers.
    source = "\n" * (block.line - 1) + block.code
    code = compile(source, block.page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    result = eval(code, namespace)  # executing our own documentation is the point
    if inspect.iscoroutine(result):  # the block used top-level await
        asyncio.run(result)


def run_page(page: Path) -> list[str]:
    """Run the blocks of ``page``; return the skip notes. Raises AssertionError naming the block."""
    text = page.read_text(encoding="utf-8")
    blocks = extract_blocks(text, _page_id(page))
    module = types.ModuleType(f"docs_page_{abs(hash(page))}")
    module.__file__ = str(page)
    sys.modules[module.__name__] = module  # dataclasses / pydantic resolve annotations through it
    notes: list[str] = []
    saved_environ = dict(os.environ)
    try:
        for block in blocks:
            if block.skip:
                notes.append(f"{block.where}: skipped ({block.skip})")
                continue
            try:
                _run_block(block, module.__dict__)
            except BaseException as exc:  # report any failure with its location
                if isinstance(exc, KeyboardInterrupt):
                    raise
                detail = "".join(traceback.format_exception(exc, limit=-8))
                raise AssertionError(f"code block at {block.where} failed:\n{detail}") from None
    finally:
        sys.modules.pop(module.__name__, None)
        # Blocks may set environment variables to show configuration; never leak them.
        os.environ.clear()
        os.environ.update(saved_environ)
    return notes


def test_markers_are_well_formed() -> None:
    """Unknown markers, reasonless skips and unclosed fences are errors on every page."""
    problems = []
    for page in PAGES:
        try:
            extract_blocks(page.read_text(encoding="utf-8"), _page_id(page))
        except MarkerError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


def _needs_local(page: Path) -> bool:
    try:
        return any(b.needs_local and not b.skip for b in extract_blocks(page.read_text(encoding="utf-8"), ""))
    except MarkerError:
        return False


# Pages with blocks for the `local` provider load real models: marked slow (deselect with -m "not slow").
PAGE_PARAMS = [pytest.param(p, id=_page_id(p), marks=[pytest.mark.slow] if _needs_local(p) else []) for p in PAGES]


@pytest.mark.parametrize("page", PAGE_PARAMS)
def test_page_code_blocks_run(page: Path, docs_workdir: Path, request: pytest.FixtureRequest) -> None:
    try:
        blocks = extract_blocks(page.read_text(encoding="utf-8"), _page_id(page))
    except MarkerError:
        pytest.skip("malformed markers: reported by test_markers_are_well_formed")
    runnable = [b for b in blocks if not b.skip]
    if any(b.needs_local for b in runnable) and not _local_installed():
        pytest.skip(f"{_page_id(page)} has blocks for the 'local' provider, which is not installed")
    for note in run_page(page):
        request.node.user_properties.append(("docs-test", note))
