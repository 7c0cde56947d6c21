"""The whole workspace is installed, so no test elsewhere skips for a missing package.

Several tests skip when an optional distribution (``hayswitch-local``, ``hayswitch-openai``...) is
absent, which is right for a provider author's partial install but would hide a broken
``make install``. Here every workspace distribution must be importable and discoverable.
"""

from __future__ import annotations

import importlib.util

import pytest

import hayswitch

WORKSPACE_MODULES = [
    "hayswitch_local",
    "hayswitch_gradient",
    "hayswitch_openai",
    "gradient_emulator",
    "hayswitch_wordbag",
    "mkdocs",
]


@pytest.mark.parametrize("module", WORKSPACE_MODULES)
def test_workspace_module_is_installed(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"{module} is not installed: run `make install`"


def test_every_workspace_provider_is_discovered_without_errors() -> None:
    rows = {r.name: r for r in hayswitch.list_providers()}
    for name in ("fake", "local", "gradient", "openai", "wordbag"):
        assert name in rows, f"provider {name!r} not discovered; found {sorted(rows)}"
        assert rows[name].error is None, rows[name].error
