"""Drop-in replacements for gradient-haystack 0.4.0's embedders (same import path), on hayswitch."""

from haystack_integrations.components.embedders.gradient.gradient_document_embedder import GradientDocumentEmbedder
from haystack_integrations.components.embedders.gradient.gradient_text_embedder import GradientTextEmbedder

__all__ = ["GradientDocumentEmbedder", "GradientTextEmbedder"]
