"""The ``hayswitch`` entry point of hayswitch-local: registers the ``local`` provider.

Importing this module is cheap (no torch, sentence-transformers or llama-cpp); models load on
first use.
"""

from __future__ import annotations

from collections.abc import Callable

from hayswitch.hookspecs import hookimpl
from hayswitch.provider import Provider
from hayswitch_local.provider import LocalProvider


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register :class:`~hayswitch_local.provider.LocalProvider` as ``local``."""
    register(LocalProvider)
