"""Providers that ship with core (only ``fake``; the others are separate distributions)."""
