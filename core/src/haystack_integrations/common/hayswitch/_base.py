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

from pydantic import BaseModel, ValidationError

from hayswitch import (
    DEFAULT_PROVIDER,
    ConfigurationError,
    Provider,
    ProviderNotFoundError,
    ProviderSettings,
    RetryPolicy,
    Secret,
    SettingsError,
    UnsupportedOperation,
    get_provider_class,
    resolve_config,
)
from hayswitch.provider import format_validation_error
from hayswitch.secrets import SecretSerialisationError

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


def _is_secret_like(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    # Haystack's Secret (or anything shaped like it) without importing it here.
    return callable(getattr(value, "resolve_value", None)) and callable(getattr(value, "to_dict", None))


def serialise_settings(settings: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Provider settings as JSON-ready values, secrets only as env-var references.

    Accepted secret forms: :class:`hayswitch.Secret`, Haystack's ``Secret``, ``"env:NAME"`` strings
    and already-serialised ``{"type": "env_var", ...}`` dicts (all kept as references).

    :raises ConfigurationError: if a secret is a literal token (it would be written to disk).
    """
    return {key: _serialise_value(value, owner, str(key)) for key, value in settings.items()}


def _serialise_value(value: Any, owner: str, where: str) -> Any:
    # Secrets nested in mappings and lists (e.g. the openai provider's extra_headers values) get
    # the same treatment as top-level secret settings.
    if _is_secret_like(value):
        try:
            return Secret.coerce(value).to_dict()
        except ConfigurationError as exc:
            raise SecretSerialisationError(
                f"{owner}: cannot serialise setting {where!r}: {exc} The component cannot be saved while a "
                "setting holds a literal token."
            ) from None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: _serialise_value(v, owner, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_serialise_value(v, owner, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


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
        if self.provider is None:
            return None
        # Fail early on an unknown provider or invalid settings; secrets are not resolved here.
        return self._resolve()[0]

    # ------------------------------------------------------------------ resolution
    def _resolve(self) -> tuple[type[Provider], ProviderSettings]:
        """Work out the provider class and validated settings (arguments > environment > config
        file > default), without creating the provider.

        :raises ProviderNotFoundError: unknown provider, or nothing configured and no default.
        :raises SettingsError: invalid settings, each problem naming its source.
        :raises UnsupportedOperation: the provider lacks what this component needs.
        """
        owner = type(self).__name__
        resolved = resolve_config(self.provider, profile=self.profile, settings=self.settings)
        try:
            cls = get_provider_class(resolved.provider)
        except ProviderNotFoundError as exc:
            if not resolved.is_default:
                raise
            listed = ", ".join(sorted(exc.available)) or "none"
            raise ProviderNotFoundError(
                DEFAULT_PROVIDER,
                exc.available,
                note=exc.note,
                message=(
                    f"{owner} has provider=None, no provider is configured, and the default provider "
                    f"{DEFAULT_PROVIDER!r} is not installed. Configure one: pass provider='<name>', export "
                    "HAYSWITCH_PROVIDER=<name> (or HAYSWITCH_PROFILE=<profile>), or set default_profile in "
                    f"hayswitch.toml; or install hayswitch-local. Installed providers: {listed}."
                ),
            ) from None
        if self.model is not None:
            key = getattr(cls, self._model_setting)
            kind = "embedding" if self._model_setting == "embedding_model_setting" else "generation"
            if key is None:
                raise SettingsError(
                    f"{owner}: provider {cls.name!r} has no configurable {kind} model; remove model={self.model!r}."
                )
            if key in self.settings and self.settings[key] != self.model:
                raise SettingsError(
                    f"{owner}: model={self.model!r} conflicts with settings[{key!r}]={self.settings[key]!r}; "
                    "set the model in one place only."
                )
            resolved.settings[key] = self.model
            resolved.sources[key] = "argument 'model'"
        validated = resolved.validate(cls.settings_model)
        if not getattr(cls.capabilities, self._capability):
            raise UnsupportedOperation(
                cls.name,
                self._capability,
                hint=f"{owner} needs a provider with {self._capability}; choose another (see 'hayswitch providers').",
            )
        return cls, validated

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
                cls, validated = self._resolve()
                instance = cls(validated, retry=self.retry)
                logger.debug("%s warmed up with provider %r", type(self).__name__, cls.name)
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
