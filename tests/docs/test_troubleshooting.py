"""docs/troubleshooting.md covers every error class hayswitch can raise."""

from __future__ import annotations

import inspect
import re

import pytest

import hayswitch
from hayswitch import errors

from .docblocks import ROOT

PAGE = ROOT / "docs" / "troubleshooting.md"


def _error_classes() -> list[str]:
    names = {
        name
        for name in errors.__all__
        if inspect.isclass(getattr(errors, name)) and issubclass(getattr(errors, name), Exception)
    }
    # Errors defined elsewhere in the package but exported at the top level (e.g. MissingSecretError).
    names |= {
        name
        for name, obj in vars(hayswitch).items()
        if inspect.isclass(obj) and issubclass(obj, hayswitch.HayswitchError)
    }
    return sorted(names)


@pytest.mark.parametrize("name", _error_classes())
def test_every_error_class_has_a_section(name: str) -> None:
    headings = set(re.findall(r"^###\s+(\w+)\s*$", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert name in headings, f"docs/troubleshooting.md has no '### {name}' section (cause and fix)"
