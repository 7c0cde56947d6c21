"""Entry point of the ``openai`` provider (``[project.entry-points.hayswitch] openai = ...``).

Importing this module does not import the ``openai`` SDK; the provider imports it when an
instance is created.
"""

from __future__ import annotations

from collections.abc import Callable

from hayswitch import Provider, hookimpl
from hayswitch_openai.provider import OpenAIProvider

__all__ = ["register_providers"]


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register :class:`~hayswitch_openai.provider.OpenAIProvider` as ``openai``."""
    register(OpenAIProvider)
