"""What the four hayswitch components share: binding a component to a provider.

A component keeps the *description* of its provider (registry name or ``None``, settings, profile,
model, retry policy), which is what it serialises. The provider *instance* is created once by
``warm_up()`` (this is where secrets are resolved) and released by ``close()``.

This module is private to the hayswitch Haystack integration; its API may change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import ValidationError

from hayswitch import ConfigurationError, Provider, ProviderSettings, RetryPolicy, SettingsError, get_provider_class
from hayswitch.errors import format_validation_error
from hayswitch.routing import ChainPlan, plan_chain
from hayswitch.secrets import serialise_settings

__all__ = ["ProviderComponentBase", "coerce_retry", "serialise_settings"]

logger = logging.getLogger("haystack_integrations.hayswitch")

ModelSetting = Literal["embedding_model_setting", "generation_model_setting"]
Capability = Literal["embeddings", "generation"]


def coerce_retry(retry: Mapping[str, Any] | RetryPolicy | None) -> RetryPolicy | None:
    """Turn the ``retry`` option (a dict of :class:`hayswitch.RetryPolicy` fields, a policy or None)
    into a policy.

    :raises SettingsError: naming each invalid field.
    :raises ConfigurationError: for any other type.
    """
    if retry is None or isinstance(retry, RetryPolicy):
        return retry
    if isinstance(retry, Mapping):
        try:
            return RetryPolicy.model_validate(dict(retry))
        except ValidationError as exc:
            raise SettingsError(
                "Invalid retry policy. Valid fields: " + ", ".join(sorted(RetryPolicy.model_fields)) + ".",
                format_validation_error(exc),
            ) from None
    raise ConfigurationError(
        f"retry must be a dict of RetryPolicy fields or a hayswitch.RetryPolicy, got {type(retry).__name__}."
    )


class ProviderComponentBase:
    """Mixin holding the provider options every hayswitch component accepts.

    Subclasses set :attr:`_model_setting` (which provider class attribute names the model setting
    that ``model=`` writes) and :attr:`_capability` (what the provider must support).
    """

    _model_setting: ClassVar[ModelSetting]
    _capability: ClassVar[Capability]

    provider: str | None
    settings: dict[str, Any]
    profile: str | None
    model: str | None
    retry: RetryPolicy | None

    def _init_provider_options(
        self,
        *,
        provider: str | None,
        settings: Mapping[str, Any] | None,
        profile: str | None,
        model: str | None,
        retry: Mapping[str, Any] | RetryPolicy | None,
    ) -> type[Provider] | None:
        """Store and check the provider options; with an explicit ``provider``, resolve and validate
        the settings now (no secret is resolved) and return the provider class."""
        owner = type(self).__name__
        if provider is not None and (not isinstance(provider, str) or not provider.strip()):
            raise ConfigurationError(
                f"{owner}: provider must be a registered provider name (see 'hayswitch providers') or None "
                f"for whichever provider is configured, got {provider!r}."
            )
        if settings is not None and not isinstance(settings, Mapping):
            raise ConfigurationError(
                f"{owner}: settings must be a dict of provider settings, got {type(settings).__name__}."
            )
        if settings is not None and any(not isinstance(k, str) for k in settings):
            raise ConfigurationError(f"{owner}: setting names must be strings.")
        if profile is not None and (not isinstance(profile, str) or not profile.strip()):
            raise ConfigurationError(f"{owner}: profile must be a profile name from hayswitch.toml or None.")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ConfigurationError(f"{owner}: model must be a non-empty string or None, got {model!r}.")
        self.provider = provider.strip() if provider else None
        self.settings = dict(settings or {})
        self.profile = profile
        self.model = model
        self.retry = coerce_retry(retry)
        self._provider_instance: Provider | None = None
        self._provider_lock = threading.Lock()
        self._plan_cache: ChainPlan | None = None
        if not self._ready_to_plan():
            # The other options (fallbacks) come next and check then; an explicit name is the class.
            return get_provider_class(self.provider) if self.provider is not None else None
        return self._check_options()

    # ------------------------------------------------------------------ resolution
    def _check_options(self) -> type[Provider] | None:
        """Once every option is set: with an explicit provider, plan now -- unknown provider or
        invalid settings fail at construction (no secret is resolved) -- and return its class."""
        if self.provider is None:
            return None
        return self._component_plan().primary.cls

    def _ready_to_plan(self) -> bool:
        """Whether every option the plan depends on is set (mixins add theirs)."""
        return hasattr(self, "retry")

    def _make_plan(self) -> ChainPlan:
        """Plan the provider (and, in :class:`FallbackOption`, its fallbacks) from one reading of
        the configuration."""
        return plan_chain(
            self.provider,
            profile=self.profile,
            settings=self.settings,
            fallbacks=[],
            purpose="generation" if self._capability == "generation" else "embeddings",
            model=self.model,
            model_setting=self._model_setting,
            capability=self._capability,
            owner=type(self).__name__,
            unique_labels=False,
        )

    def _component_plan(self) -> ChainPlan:
        """The plan, made once per component (settings resolved and validated once): arguments >
        environment > config file > default, without creating the provider.

        :raises ProviderNotFoundError: unknown provider, or nothing configured and no default.
        :raises SettingsError: invalid settings, each problem naming its source.
        :raises UnsupportedOperation: the provider lacks what this component needs.
        """
        plan = self._plan_cache
        if plan is None:
            plan = self._plan_cache = self._make_plan()
        return plan

    def _resolve(self) -> tuple[type[Provider], ProviderSettings]:
        """The provider class and validated settings of the plan (see :meth:`_component_plan`)."""
        primary = self._component_plan().primary
        return primary.cls, primary.settings

    # ------------------------------------------------------------------ lifecycle
    @property
    def provider_instance(self) -> Provider | None:
        """The provider created by :meth:`warm_up`, or None before warm-up / after :meth:`close`."""
        return self._provider_instance

    def warm_up(self) -> None:
        """Create the provider (resolving configuration and secrets). Idempotent and thread-safe.

        :raises ProviderNotFoundError: the provider is unknown, or none is configured and the default
            is not installed (the message says what to set).
        :raises SettingsError: invalid settings.
        :raises MissingSecretError: a required secret is not set.
        """
        if self._provider_instance is not None:
            return
        with self._provider_lock:
            if self._provider_instance is None:
                plan = self._component_plan().primary
                instance = plan.create(self.retry)
                logger.debug("%s warmed up with provider %r", type(self).__name__, plan.cls.name)
                self._provider_instance = instance

    def _ready_provider(self) -> Provider:
        self.warm_up()
        instance = self._provider_instance
        if instance is None:  # pragma: no cover - close() raced with run()
            raise ConfigurationError(f"{type(self).__name__} was closed while running; call warm_up() again.")
        return instance

    def close(self) -> None:
        """Release the provider (idempotent). A later ``run`` warms up again."""
        with self._provider_lock:
            instance, self._provider_instance = self._provider_instance, None
        if instance is not None:
            instance.close()

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        with self._provider_lock:
            instance, self._provider_instance = self._provider_instance, None
        if instance is not None:
            await instance.aclose()

    # ------------------------------------------------------------------ serialisation
    def _provider_init_parameters(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "settings": serialise_settings(self.settings, type(self).__name__),
            "profile": self.profile,
            "model": self.model,
            "retry": self.retry.model_dump(mode="json") if self.retry is not None else None,
        }

    def _get_telemetry_data(self) -> dict[str, Any]:
        """Data for Haystack's usage telemetry: the provider name only (never settings)."""
        instance = self._provider_instance
        return {"provider": instance.name if instance is not None else self.provider}
