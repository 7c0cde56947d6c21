"""Internal helpers shared by the hayswitch Haystack components (not a public API).

The public components live in :mod:`haystack_integrations.components.embedders.hayswitch` and
:mod:`haystack_integrations.components.generators.hayswitch`.
"""
