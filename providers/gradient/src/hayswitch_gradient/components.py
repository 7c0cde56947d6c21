"""The drop-in replacements for gradient-haystack 0.4.0's components, re-exported.

They live at gradient-haystack 0.4.0's own import paths
(``haystack_integrations.components.embedders.gradient`` and
``haystack_integrations.components.generators.gradient``), so pipelines serialised with 0.4.0 load
unchanged and Haystack's deserialisation allowlist (``haystack_integrations.*``) admits them. They
behave as 0.4.0's in everything a caller can observe; ``docs/migration.md`` lists the few
differences and :mod:`hayswitch_gradient._compat` holds what the three share.
"""

from haystack_integrations.components.embedders.gradient import GradientDocumentEmbedder, GradientTextEmbedder
from haystack_integrations.components.generators.gradient import GradientGenerator

__all__ = ["GradientDocumentEmbedder", "GradientGenerator", "GradientTextEmbedder"]
