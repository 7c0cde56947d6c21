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
    from hayswitch.contracts import ContractDeclaration
    from hayswitch.provider import Provider

__all__ = ["hookimpl", "hookspec", "register_commands", "register_contracts", "register_providers"]

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


@hookspec
def register_contracts(register: Callable[[ContractDeclaration], None]) -> None:
    """Declare how the contract kit and ``hayswitch check`` test this plugin's providers: call
    ``register(ContractDeclaration(provider=..., cassette_dir=..., ...))`` once per provider.

    Test knowledge (cassettes, dummy replay credentials, scrub lists, heavy modules) lives here,
    not on the provider class. See :mod:`hayswitch.contracts`.
    """
