"""Drop-in replacement for gradient-haystack 0.4.0's generator (same import path), on hayswitch."""

from haystack_integrations.components.generators.gradient.base import GradientGenerator

__all__ = ["GradientGenerator"]
