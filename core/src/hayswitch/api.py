"""The small public Python API: find providers and create them from configuration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hayswitch.config import DEFAULT_PROVIDER, ResolvedConfig, resolve_config
from hayswitch.errors import ProviderNotFoundError
from hayswitch.provider import Provider, ProviderSettings
from hayswitch.registry import ProviderInfo, get_registry
from hayswitch.retry import RetryPolicy

__all__ = ["get_provider", "get_provider_class", "list_providers", "resolve_provider"]


def list_providers() -> list[ProviderInfo]:
    """Every discovered provider (name, distribution, version, capabilities, load error), plus one
    row per plugin that failed to load. Imports no provider SDK."""
    return get_registry().infos()


def get_provider_class(name: str) -> type[Provider]:
    """The provider class registered as ``name``.

    :raises ProviderNotFoundError: listing what is available, with a did-you-mean suggestion.
    """
    return get_registry().get_class(name)


def resolve_provider(
    provider: str | None = None,
    *,
    profile: str | None = None,
    settings: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[type[Provider], ProviderSettings, ResolvedConfig]:
    """Resolve configuration (arguments > environment > config file > default) to a provider class
    and validated settings, without creating the provider (no secret is resolved).

    :raises ProviderNotFoundError: if the resolved name is not installed.
    :raises SettingsError: naming each invalid field and where its value came from.
    """
    resolved = resolve_config(provider, profile=profile, settings=settings, environ=environ, cwd=cwd)
    try:
        cls = get_provider_class(resolved.provider)
    except ProviderNotFoundError as exc:
        if not resolved.is_default:
            raise
        listed = ", ".join(exc.available) or "none"
        raise ProviderNotFoundError(
            DEFAULT_PROVIDER,
            exc.available,
            note=exc.note,
            message=(
                "No provider is configured and the default provider 'local' is not installed. "
                "Install it (pip install hayswitch-local), or choose one of the installed providers "
                f"({listed}) with HAYSWITCH_PROVIDER, a profile in hayswitch.toml, or provider=..."
            ),
        ) from None
    return cls, resolved.validate(cls.settings_model), resolved


def get_provider(
    name: str | None = None,
    /,
    *,
    profile: str | None = None,
    retry: RetryPolicy | None = None,
    **settings: Any,
) -> Provider:
    """Create a provider instance (this is where secrets are resolved).

    ``get_provider()`` with no name uses whichever provider is configured; ``get_provider("fake",
    dimension=64)`` picks one explicitly. Settings given here override the environment and the
    config file.

    :raises ProviderNotFoundError: unknown name (lists what is installed).
    :raises SettingsError: invalid settings, naming the field and its source.
    :raises MissingSecretError: a required secret is not set.
    """
    cls, validated, _ = resolve_provider(name, profile=profile, settings=settings)
    return cls(validated, retry=retry)
