"""The documentation site: it builds strictly, and pages that describe code stay in sync with it."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from hayswitch.providers.fake import FailKind, FakeSettings

from .docblocks import ROOT


def test_fake_page_documents_every_setting_and_fault() -> None:
    page = (ROOT / "docs" / "providers" / "fake.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+)` \|", page, flags=re.MULTILINE))
    assert set(FakeSettings.model_fields) <= rows, f"undocumented settings: {set(FakeSettings.model_fields) - rows}"
    for kind in typing.get_args(FailKind):
        assert f"`{kind}`" in page, f"fail_with={kind!r} is not documented"


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (make docs installs it)"
)
def test_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: broken links, missing pages in the nav and bad references fail."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(tmp_path)},
    )
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(warnings or [proc.stderr[-3000:]])
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "provider.html").is_file()
