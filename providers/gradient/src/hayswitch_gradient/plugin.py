"""The ``hayswitch`` entry point of this distribution: registers the ``gradient`` provider.

Listing providers imports this module, so it stays light: neither ``gradientai`` nor Haystack
is imported here (the provider imports the SDK when it is created).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hayswitch import hookimpl


@hookimpl
def register_providers(register: Callable[[type[Any]], None]) -> None:
    from hayswitch_gradient.provider import GradientProvider

    register(GradientProvider)
