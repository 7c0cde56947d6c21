"""The one route from configuration to a ready provider (and fallback chain).

``get_provider``, ``resolve_provider``, :func:`hayswitch.fallback.build_fallback_chain`, the
Haystack components and the CLI all go through :func:`plan_provider` / :func:`plan_chain`:

1. *plan* -- read ``hayswitch.toml`` once, merge arguments > environment > config file >
   default, find the provider class, validate the settings (no secret is resolved);
2. *create* -- :meth:`ProviderPlan.create` instantiates a provider (this is where secrets are
   resolved); :func:`hayswitch.fallback.chain_from_plan` a chain.

A component plans once for its lifetime and creates from the same plan at every ``warm_up``
after a ``close``; one message explains a missing default provider everywhere.

This module does not import Haystack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hayswitch.config import (
    DEFAULT_PROVIDER,
    ConfigFile,
    ResolvedConfig,
    find_config_file,
    load_config_file,
    resolve_config,
)
from hayswitch.errors import ConfigurationError, ProviderNotFoundError, SettingsError, UnsupportedOperation
from hayswitch.provider import Provider, ProviderSettings
from hayswitch.retry import RetryPolicy

__all__ = [
    "ChainPlan",
    "FallbackSpec",
    "ProviderPlan",
    "Purpose",
    "default_provider_missing",
    "load_config",
    "plan_chain",
    "plan_fallbacks",
    "plan_provider",
]

Purpose = Literal["generation", "embeddings"]
FallbackSpec = str | Mapping[str, Any]
"""A fallback entry: a profile or provider name, or ``{"provider"|"profile": name, "settings": {...}}``."""
ModelSetting = Literal["embedding_model_setting", "generation_model_setting"]


def load_config(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> ConfigFile:
    """The ``hayswitch.toml`` in effect (``HAYSWITCH_CONFIG`` or the working directory), or an
    empty configuration."""
    env = os.environ if environ is None else environ
    path = find_config_file(env, cwd)
    return load_config_file(path) if path else ConfigFile()


def default_provider_missing(
    available: Sequence[str], owner: str | None = None, note: str | None = None
) -> ProviderNotFoundError:
    """The error for "nothing configured and the default provider is not installed" (one message
    for ``get_provider()``, the components and the CLI)."""
    listed = ", ".join(sorted(available)) or "none"
    who = f"{owner} has provider=None, no provider is configured," if owner else "No provider is configured"
    return ProviderNotFoundError(
        DEFAULT_PROVIDER,
        available,
        note=note,
        message=(
            f"{who} and the default provider {DEFAULT_PROVIDER!r} is not installed. Configure one: pass "
            "provider='<name>', export HAYSWITCH_PROVIDER=<name> (or HAYSWITCH_PROFILE=<profile>), or set "
            f"default_profile in hayswitch.toml; or install it (pip install hayswitch-{DEFAULT_PROVIDER}). "
            f"Installed providers: {listed}."
        ),
    )


@dataclass(frozen=True)
class ProviderPlan:
    """A provider resolved from configuration, not yet created (no secret resolved).

    :param label: the name the provider is known by in a chain (profile or provider name).
    :param cls: the provider class.
    :param settings: the validated settings.
    :param resolved: where each value came from, the active profile and its fallbacks.
    """

    label: str
    cls: type[Provider]
    settings: ProviderSettings
    resolved: ResolvedConfig

    def create(self, retry: RetryPolicy | Mapping[str, Any] | None = None) -> Provider:
        """Instantiate the provider (resolves its secrets)."""
        return self.cls(self.settings, retry=retry)


def plan_provider(
    provider: str | None = None,
    *,
    profile: str | None = None,
    settings: Mapping[str, Any] | None = None,
    model: str | None = None,
    model_setting: ModelSetting | None = None,
    capability: str | None = None,
    owner: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config: ConfigFile | None = None,
) -> ProviderPlan:
    """Resolve configuration to a provider class and validated settings.

    :param model: a model id written to the provider's ``model_setting`` (the components' ``model=``).
    :param capability: a capability the provider must declare (``"embeddings"``, ``"generation"``).
    :param owner: who asks (a component's class name), for messages.
    :param config: an already-loaded ``hayswitch.toml`` (read once per plan otherwise).
    :raises ProviderNotFoundError: unknown name, or nothing configured and no default installed.
    :raises SettingsError: invalid settings, each problem naming its source.
    :raises UnsupportedOperation: the provider lacks ``capability``.
    """
    from hayswitch.registry import get_registry

    who = f"{owner}: " if owner else ""
    resolved = resolve_config(provider, profile=profile, settings=settings, environ=environ, cwd=cwd, config=config)
    try:
        cls = get_registry().get_class(resolved.provider)
    except ProviderNotFoundError as exc:
        if not resolved.is_default:
            raise
        raise default_provider_missing(exc.available, owner, note=exc.note) from None
    if model is not None and model_setting is not None:
        key = getattr(cls, model_setting)
        kind = "embedding" if model_setting == "embedding_model_setting" else "generation"
        if key is None:
            raise SettingsError(f"{who}provider {cls.name!r} has no configurable {kind} model; remove model={model!r}.")
        explicit = dict(settings or {})
        if key in explicit and explicit[key] != model:
            raise SettingsError(
                f"{who}model={model!r} conflicts with settings[{key!r}]={explicit[key]!r}; set the model in one "
                "place only."
            )
        resolved.settings[key] = model
        resolved.sources[key] = "argument 'model'"
    validated = resolved.validate(cls.settings_model)
    if capability is not None and not getattr(cls.capabilities, capability):
        raise UnsupportedOperation(
            cls.name,
            capability,
            hint=f"{owner or 'This'} needs a provider with {capability}; choose another (see 'hayswitch providers').",
        )
    return ProviderPlan(label=resolved.profile or cls.name, cls=cls, settings=validated, resolved=resolved)


def plan_fallbacks(
    specs: Sequence[FallbackSpec],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config: ConfigFile | None = None,
) -> list[ProviderPlan]:
    """Plan fallback entries (see :func:`hayswitch.fallback.resolve_fallback_specs` for the forms).

    A string is a profile of ``hayswitch.toml`` if one has that name, otherwise a provider name. A
    provider name takes its ``[providers.<name>]`` settings, the environment and the entry's
    ``settings``, but not the settings of the active profile (that is the failing member's).

    :raises ConfigurationError: for malformed entries, unknown profiles or providers, or invalid settings.
    """
    env = os.environ if environ is None else environ
    config = config if config is not None else load_config(env, cwd)
    profiles = config.profiles
    no_profile_config = config.model_copy(update={"default_profile": None})
    no_profile_config.path = config.path
    no_profile_env = {k: v for k, v in env.items() if k != "HAYSWITCH_PROFILE"}
    out: list[ProviderPlan] = []
    for i, spec in enumerate(specs):
        settings: Mapping[str, Any] | None = None
        if isinstance(spec, str):
            name = spec.strip()
            kind = "profile" if name in profiles else "provider"
        elif isinstance(spec, Mapping):
            unknown = set(spec) - {"provider", "profile", "settings", "label"}
            if unknown or ("provider" in spec) == ("profile" in spec):
                raise ConfigurationError(
                    f"fallbacks[{i}] must be a name or a mapping with exactly one of 'provider' or 'profile' "
                    f"(and optionally 'settings', 'label'); got keys {sorted(spec)}."
                )
            kind = "profile" if "profile" in spec else "provider"
            name = str(spec[kind]).strip()
            raw_settings = spec.get("settings") or {}
            if not isinstance(raw_settings, Mapping):
                raise ConfigurationError(f"fallbacks[{i}].settings must be a mapping.")
            settings = raw_settings
        else:
            raise ConfigurationError(
                f"fallbacks[{i}] must be a profile/provider name or a mapping, got {type(spec).__name__}."
            )
        if not name:
            raise ConfigurationError(f"fallbacks[{i}] is empty.")
        if kind == "profile":
            if name not in profiles:
                known = ", ".join(sorted(profiles)) or "none defined"
                raise ConfigurationError(f"fallbacks[{i}]: unknown profile {name!r}. Known profiles: {known}.")
            plan = plan_provider(profile=name, settings=settings, environ=env, config=config)
        else:
            plan = plan_provider(name, settings=settings, environ=no_profile_env, config=no_profile_config)
        label = str(spec.get("label", name)) if isinstance(spec, Mapping) else name
        out.append(ProviderPlan(label=label, cls=plan.cls, settings=plan.settings, resolved=plan.resolved))
    return out


@dataclass(frozen=True)
class ChainPlan:
    """A primary provider and its fallbacks, planned from one reading of the configuration
    (created by :func:`hayswitch.fallback.chain_from_plan`).

    :param primary: the primary provider's plan.
    :param fallbacks: the fallback members' plans, in order.
    :param purpose: what the chain serves (``"generation"`` or ``"embeddings"``).
    """

    primary: ProviderPlan
    fallbacks: list[ProviderPlan] = field(default_factory=list)
    purpose: Purpose = "generation"


def plan_chain(
    provider: str | None = None,
    *,
    profile: str | None = None,
    settings: Mapping[str, Any] | None = None,
    fallbacks: Sequence[FallbackSpec] | None = None,
    purpose: Purpose = "generation",
    model: str | None = None,
    model_setting: ModelSetting | None = None,
    capability: str | None = None,
    owner: str | None = None,
    unique_labels: bool = True,
    profile_fallbacks: bool | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ChainPlan:
    """Plan a provider and its fallbacks from one reading of ``hayswitch.toml``.

    :param fallbacks: fallback entries; None uses the active profile's ``fallbacks`` (for
        generation only -- an embedder falls back only when told to).
    :param unique_labels: refuse a member listed twice (or the primary listed again).
    :param profile_fallbacks: whether ``fallbacks=None`` takes the active profile's list (default:
        for generation only -- an embedder falls back only when told to).
    :raises ConfigurationError: unknown names, invalid settings, or a member listed twice.
    """
    config = load_config(environ, cwd)
    primary = plan_provider(
        provider,
        profile=profile,
        settings=settings,
        model=model,
        model_setting=model_setting,
        capability=capability,
        owner=owner,
        environ=environ,
        cwd=cwd,
        config=config,
    )
    if fallbacks is None:
        use_profile = purpose == "generation" if profile_fallbacks is None else profile_fallbacks
        specs: Sequence[FallbackSpec] = primary.resolved.fallbacks if use_profile else []
    else:
        specs = fallbacks
    members = plan_fallbacks(specs, environ=environ, cwd=cwd, config=config)
    seen = {primary.label}
    for plan in members:
        if unique_labels and plan.label in seen:
            raise ConfigurationError(f"Fallback {plan.label!r} appears twice in the chain (or is the primary).")
        seen.add(plan.label)
    return ChainPlan(primary=primary, fallbacks=members, purpose=purpose)
