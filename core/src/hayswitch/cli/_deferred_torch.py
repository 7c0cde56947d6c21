"""Keep ``import haystack`` from importing PyTorch in the ``hayswitch`` command.

Haystack's ``haystack.utils.device`` runs ``import torch`` whenever torch is installed (it is, for
the ``local`` provider), which costs every ``hayswitch ask`` / ``index`` process 2-3 s and about
190 MB even when its provider never touches torch. :func:`install` makes the first ``import
haystack`` of the process see a stand-in module under the name ``torch``: the modules Haystack
imports then bind that stand-in, and as soon as anything is looked up on it (``torch.device``,
``torch.cuda``...) it imports the real torch and forwards to it. The stand-in is removed from
``sys.modules`` as soon as ``import haystack`` returns, so every other ``import torch`` (a provider
that needs it, sentence-transformers, the user's code) imports the real module as usual.

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

__all__ = ["install"]

_NAME = "torch"


class _DeferredModule(types.ModuleType):
    """Stands in for ``torch`` while Haystack is imported; imports the real one on first use."""

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

    def __dir__(self) -> list[str]:
        return dir(self._deferred_load())


class _DeferTorchLoader(importlib.abc.Loader):
    """Wraps the loader of the ``haystack`` package: torch is a stand-in while it executes."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        if _NAME in sys.modules or importlib.util.find_spec(_NAME) is None:
            self._loader.exec_module(module)
            return
        stand_in = _DeferredModule(_NAME)
        sys.modules[_NAME] = stand_in
        try:
            self._loader.exec_module(module)
        finally:
            if sys.modules.get(_NAME) is stand_in:
                del sys.modules[_NAME]

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
        spec.loader = _DeferTorchLoader(spec.loader)
        return spec


def _uninstall(finder: _HaystackFinder) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)


def install() -> None:
    """Defer torch during the first ``import haystack`` of this process (no-op if Haystack or
    torch is already imported)."""
    if "haystack" in sys.modules or _NAME in sys.modules:
        return
    if any(isinstance(f, _HaystackFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _HaystackFinder())
