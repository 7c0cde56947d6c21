"""Keep ``import haystack`` from importing PyTorch (and PostHog) in the ``hayswitch`` command.

Haystack's ``haystack.utils.device`` runs ``import torch`` whenever torch is installed (it is, for
the ``local`` provider), which costs every ``hayswitch ask`` / ``index`` process 2-3 s and about
190 MB even when its provider never touches torch; ``haystack.telemetry`` imports the PostHog client
(0.2 s) although these commands turn telemetry off unless the user opted in. :func:`install` makes
the first ``import haystack`` of the process see stand-in modules under those names
(:data:`DEFERRED`): the modules Haystack imports then bind the stand-ins, and as soon as anything is
looked up or set on one (``torch.device``, ``posthog.capture``...) it imports the real module and
forwards to it. The stand-ins are removed from ``sys.modules`` as soon as ``import haystack``
returns, so every other import of those modules (a provider that needs torch,
sentence-transformers, the user's code) gets the real module as usual.

Only the command-line entry point installs it; importing hayswitch as a library changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["DEFERRED", "install"]

DEFERRED: tuple[str, ...] = ("torch", "posthog")
"""Modules Haystack imports eagerly that a command may never use."""


class _DeferredModule(types.ModuleType):
    """Stands in for a module while Haystack is imported; imports the real one on first use."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_deferred_lock"] = threading.Lock()
        self.__dict__["_deferred_real"] = None

    def _deferred_load(self) -> types.ModuleType:
        real = self.__dict__["_deferred_real"]
        if real is not None:
            return real
        with self.__dict__["_deferred_lock"]:
            real = self.__dict__["_deferred_real"]
            if real is None:
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]  # (first use during Haystack's own import)
                real = importlib.import_module(self.__name__)
                self.__dict__["_deferred_real"] = real
        return real

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") and name not in ("__version__", "__path__", "__file__"):
            raise AttributeError(name)
        return getattr(self._deferred_load(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._deferred_load(), name, value)

    def __dir__(self) -> list[str]:
        return dir(self._deferred_load())


class _DeferringLoader(importlib.abc.Loader):
    """Wraps the loader of the ``haystack`` package: :data:`DEFERRED` are stand-ins while it executes."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        stand_ins = {
            name: _DeferredModule(name)
            for name in DEFERRED
            if name not in sys.modules and importlib.util.find_spec(name) is not None
        }
        sys.modules.update(stand_ins)
        try:
            self._loader.exec_module(module)
        finally:
            for name, stand_in in stand_ins.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]

    def __getattr__(self, name: str) -> Any:  # resource readers etc. of the real loader
        return getattr(self._loader, name)


class _HaystackFinder(importlib.abc.MetaPathFinder):
    """Finds ``haystack`` once (through the other finders) and wraps its loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "haystack":
            return None
        _uninstall(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _DeferringLoader(spec.loader)
        return spec


def _uninstall(finder: _HaystackFinder) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)


def install() -> None:
    """Defer :data:`DEFERRED` during the first ``import haystack`` of this process (no-op if
    Haystack is already imported; a module already imported is left alone)."""
    if "haystack" in sys.modules:
        return
    if any(isinstance(f, _HaystackFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _HaystackFinder())
