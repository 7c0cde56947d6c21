"""The plugin module named by the ``hayswitch`` entry point.

Keep this module light: hayswitch imports it whenever providers are listed. Heavy SDKs (torch,
an HTTP client, ...) belong inside the provider's methods, not here. This provider has none.
"""

from __future__ import annotations

from collections.abc import Callable

from hayswitch import Provider, hookimpl
from hayswitch_wordbag.provider import WordbagProvider


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register every provider class of this package (one here)."""
    register(WordbagProvider)
