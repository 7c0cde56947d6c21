"""The components live in Haystack's integration namespace packages (no __init__.py at the shared
levels), so they install next to other integrations and load under the default allowlist."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "core" / "src"
NAMESPACES = [
    "haystack_integrations",
    "haystack_integrations.components",
    "haystack_integrations.components.embedders",
    "haystack_integrations.components.generators",
    "haystack_integrations.components.grounding",
    "haystack_integrations.common",
]
PACKAGES = [
    "haystack_integrations.components.embedders.hayswitch",
    "haystack_integrations.components.generators.hayswitch",
    "haystack_integrations.components.grounding.hayswitch",
    "haystack_integrations.common.hayswitch",
]


@pytest.mark.parametrize("name", NAMESPACES)
def test_shared_levels_are_namespace_packages(name: str) -> None:
    assert not (SRC / name.replace(".", "/") / "__init__.py").exists()
    module = importlib.import_module(name)
    assert getattr(module, "__file__", None) is None  # a namespace package
    assert any(Path(p) == SRC / name.replace(".", "/") for p in module.__path__)


@pytest.mark.parametrize("name", PACKAGES)
def test_hayswitch_packages_are_regular_typed_packages(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert (Path(module.__file__).parent / "py.typed").is_file()


def test_public_names() -> None:
    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator, ProviderGenerator

    for cls in (ProviderDocumentEmbedder, ProviderTextEmbedder, ProviderChatGenerator, ProviderGenerator):
        assert cls.__module__.startswith("haystack_integrations.components.")
