"""Haystack generators backed by whichever hayswitch provider is configured."""

from haystack_integrations.components.generators.hayswitch.chat_generator import ProviderChatGenerator
from haystack_integrations.components.generators.hayswitch.generator import ProviderGenerator

__all__ = ["ProviderChatGenerator", "ProviderGenerator"]
