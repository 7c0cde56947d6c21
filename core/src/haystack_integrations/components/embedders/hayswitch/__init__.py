"""Haystack embedders backed by whichever hayswitch provider is configured."""

from haystack_integrations.components.embedders.hayswitch.document_embedder import ProviderDocumentEmbedder
from haystack_integrations.components.embedders.hayswitch.text_embedder import ProviderTextEmbedder, TextEmbeddingMeta

__all__ = ["ProviderDocumentEmbedder", "ProviderTextEmbedder", "TextEmbeddingMeta"]
