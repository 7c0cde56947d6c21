"""Hook specifications for hayswitch plugins (pluggy project name ``"hayswitch"``).

A plugin is a module named by an entry point in the ``hayswitch`` group::

    [project.entry-points.hayswitch]
    myprovider = "hayswitch_myprovider.plugin"

and implements one or more of the hooks below with :data:`hookimpl`::

    from hayswitch import hookimpl

    @hookimpl
    def register_providers(register):
        register(MyProvider)

Built-in providers (``fake``, ``local``, ...) are registered through exactly the same mechanism.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from hayswitch.provider import Provider

__all__ = ["hookimpl", "hookspec", "register_providers", "register_commands"]

hookspec = pluggy.HookspecMarker("hayswitch")
hookimpl = pluggy.HookimplMarker("hayswitch")


@hookspec
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register provider classes by calling ``register(ProviderSubclass)`` once per class.

    Keep the plugin module light: import heavy SDKs (torch, llama_cpp, openai, ...) inside the
    provider's methods, not at module level, so that listing providers stays fast.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``hayswitch`` command line (``cli`` is the root ``typer.Typer``)."""
