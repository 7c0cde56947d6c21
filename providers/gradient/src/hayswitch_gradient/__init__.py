"""hayswitch provider for the Gradient AI platform, plus drop-in replacements for gradient-haystack.

* ``hayswitch.get_provider("gradient", ...)`` -- the provider (:class:`GradientProvider`), found
  through the ``hayswitch`` entry point; settings in :class:`GradientSettings`.
* :class:`GradientDocumentEmbedder`, :class:`GradientTextEmbedder`, :class:`GradientGenerator` --
  drop-in replacements for gradient-haystack 0.4.0's components (same parameters, outputs and
  exception types), on the ``gradient`` provider (see ``docs/migration.md``).

Names are imported lazily, so ``import hayswitch_gradient`` loads neither the SDK nor Haystack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hayswitch_gradient._compat import SDKAttributeRemovedError
    from hayswitch_gradient.components import (
        GradientDocumentEmbedder,
        GradientGenerator,
        GradientTextEmbedder,
    )
    from hayswitch_gradient.provider import GradientProvider
    from hayswitch_gradient.settings import GradientOptions, GradientSettings

__all__ = [
    "GradientDocumentEmbedder",
    "GradientGenerator",
    "GradientOptions",
    "GradientProvider",
    "GradientSettings",
    "GradientTextEmbedder",
    "SDKAttributeRemovedError",
]

_LAZY = {
    "GradientProvider": "hayswitch_gradient.provider",
    "GradientSettings": "hayswitch_gradient.settings",
    "GradientOptions": "hayswitch_gradient.settings",
    "GradientDocumentEmbedder": "hayswitch_gradient.components",
    "GradientTextEmbedder": "hayswitch_gradient.components",
    "GradientGenerator": "hayswitch_gradient.components",
    "SDKAttributeRemovedError": "hayswitch_gradient._compat",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hayswitch_gradient' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
