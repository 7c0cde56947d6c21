"""docs/troubleshooting.md covers every error class hayswitch can raise."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import hayswitch
from hayswitch import errors

from .docblocks import ROOT

PAGE = ROOT / "docs" / "troubleshooting.md"


def _error_classes() -> list[str]:
    """Every exception class of hayswitch.errors, plus every HayswitchError subclass defined in any
    module of the hayswitch package (secrets, CLI, ...), so a new error cannot go undocumented."""
    names = {
        name
        for name in errors.__all__
        if inspect.isclass(getattr(errors, name)) and issubclass(getattr(errors, name), Exception)
    }
    for info in pkgutil.walk_packages(hayswitch.__path__, prefix="hayswitch."):
        if info.name.startswith("hayswitch.testing"):
            continue  # test-kit failures (cassettes) are documented in docs/testing.md
        module = importlib.import_module(info.name)
        names |= {
            name
            for name, obj in vars(module).items()
            if inspect.isclass(obj)
            and issubclass(obj, hayswitch.HayswitchError)
            and obj.__module__ == info.name
            and not name.startswith("_")
        }
    return sorted(names)


@pytest.mark.parametrize("name", _error_classes())
def test_every_error_class_has_a_section(name: str) -> None:
    headings = set(re.findall(r"^###\s+(\w+)\s*$", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert name in headings, f"docs/troubleshooting.md has no '### {name}' section (cause and fix)"
