"""What the drop-in replacements for gradient-haystack 0.4.0's components share.

``GradientDocumentEmbedder``, ``GradientTextEmbedder`` and ``GradientGenerator`` (at 0.4.0's import
paths, ``haystack_integrations.components.{embedders,generators}.gradient``) behave as 0.4.0 did in
everything a caller can see -- init parameters and defaults, ``to_dict``, output sockets, what
happens to the input Documents, the exception types and where they are raised -- while the HTTP
work is done by the ``gradient`` hayswitch provider (timeouts, error translation, redaction,
retries of rate limits / 5xx / timeouts). ``tests/gradient/peer`` checks each of gradient-haystack
0.4.0's own unit tests against them; ``docs/migration.md`` lists the few differences and why.

Secrets are resolved in ``__init__`` exactly as 0.4.0 did (its SDK client was created there): a
Haystack ``Secret`` through its own ``resolve_value`` (so a missing variable is Haystack's
``ValueError``), a non-strict secret that resolves to None falls back to ``GRADIENT_ACCESS_TOKEN`` /
``GRADIENT_WORKSPACE_ID`` as the SDK did, and nothing is sent before the first ``run``. The resolved
values are kept only in memory; ``to_dict`` writes the secrets as given (env-var references) and,
like Haystack, refuses a token secret with a ``ValueError``.

0.4.0's private SDK objects (``_gradient``, ``_embedding_model``, ``_model``) do not exist here. Tests
written for 0.4.0 that replace them with mocks would otherwise be bypassed silently and send real
requests, so touching them raises :class:`SDKAttributeRemovedError` saying how to test instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

from haystack import default_from_dict
from haystack.utils import Secret as HaystackSecret
from haystack.utils import deserialize_secrets_inplace

from haystack_integrations.common.hayswitch._base import ProviderComponentBase
from hayswitch.errors import ConfigurationError, ResponseError, SettingsError
from hayswitch.provider import Provider
from hayswitch.secrets import MissingSecretError, Secret, SecretSerialisationError

__all__ = [
    "PROVIDER",
    "GeneratorNotWarmedUpError",
    "GradientDropIn",
    "NotWarmedUpError",
    "SDKAttributeRemovedError",
    "SecretInput",
    "sdk_attribute",
]

PROVIDER = "gradient"
SecretInput = HaystackSecret | Secret | str
NOT_WARMED_UP = "The embedding model has not been loaded. Please call warm_up() before running."
"""0.4.0's message (its tests match ``warm_up()``)."""

_TESTING_HINT = (
    "Test at the HTTP boundary instead: point GRADIENT_API_URL at the Gradient emulator "
    "(tools/gradient-emulator, `run_emulator()`), or replay a cassette; see docs/migration.md#testing."
)


class NotWarmedUpError(RuntimeError):
    """``run()`` before ``warm_up()``: 0.4.0's embedders raised RuntimeError here."""


class GeneratorNotWarmedUpError(NotWarmedUpError, AttributeError):
    """``GradientGenerator.run()`` before ``warm_up()``: 0.4.0 raised AttributeError (no ``_model``);
    this is also a RuntimeError, like the embedders' error."""


class SDKAttributeRemovedError(AttributeError):
    """A test (or code) touched a private gradient-haystack 0.4.0 SDK attribute that the drop-in
    does not have. An :class:`AttributeError`, so ``hasattr`` still answers False."""


class sdk_attribute:
    """A class attribute standing in for one of 0.4.0's private SDK objects: reading or assigning it
    on an instance raises :class:`SDKAttributeRemovedError` instead of being silently ignored."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _fail(self, instance: object) -> NoReturn:
        raise SDKAttributeRemovedError(
            f"{type(instance).__name__}.{self.name} was gradient-haystack 0.4.0's private {self.what}. The hayswitch "
            "drop-in has no SDK objects (the 'gradient' hayswitch provider sends the requests), so a mock assigned "
            f"here would be ignored and real requests sent. {_TESTING_HINT}"
        )

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return self._fail(instance)

    def __set__(self, instance: object, value: Any) -> None:
        self._fail(instance)

    def __delete__(self, instance: object) -> None:
        self._fail(instance)


# High-level SDK entry points that 0.4.0's components called; a test that patches one of them
# expects the component to go through it, which the drop-in never does.
_SDK_ENTRY_POINTS = (
    ("gradientai", "Gradient", ("get_embeddings_model", "get_base_model", "get_model_adapter")),
    ("gradientai._embeddings_model", "EmbeddingsModel", ("embed", "generate_embeddings")),
    ("gradientai._model", "Model", ("complete",)),
    ("gradientai._base_model", "BaseModel", ("complete",)),
    ("gradientai._model_adapter", "ModelAdapter", ("complete",)),
)


def _check_not_mocked(component: object) -> None:
    """Raise if a test replaced the SDK attributes or high-level SDK calls 0.4.0 used.

    Catches what the :class:`sdk_attribute` descriptors cannot: a mock patched onto the class
    (``patch.object(GradientTextEmbedder, "_embedding_model")``), put into the instance dict
    directly, or patched into the ``gradientai`` package (only checked once ``unittest.mock`` is
    imported, i.e. under a test runner).
    """
    cls = type(component)
    for name in ("_gradient", "_embedding_model", "_model"):
        declared = next((vars(k)[name] for k in cls.__mro__ if name in vars(k)), None)
        replaced = declared is not None and not isinstance(declared, sdk_attribute)
        if replaced or name in getattr(component, "__dict__", {}):
            raise SDKAttributeRemovedError(
                f"{cls.__name__}.{name} has been replaced (a mock of gradient-haystack 0.4.0's private SDK object?). "
                f"The hayswitch drop-in does not use it, so the mock would be ignored. {_TESTING_HINT}"
            )
    mock = sys.modules.get("unittest.mock")
    if mock is None:
        return
    for module_name, class_name, methods in _SDK_ENTRY_POINTS:
        module = sys.modules.get(module_name)
        target = getattr(module, class_name, None) if module is not None else None
        if target is None:
            continue
        suspects = [target, *(vars(target).get(m) for m in methods if isinstance(target, type))]
        if any(isinstance(s, mock.NonCallableMock) for s in suspects):
            raise SDKAttributeRemovedError(
                f"{module_name}.{class_name} (or one of its methods) is mocked, but the hayswitch drop-in "
                f"{cls.__name__} does not call the high-level gradientai SDK, so the mock would be ignored and "
                f"real requests sent. {_TESTING_HINT}"
            )


def _resolve_secret(value: Any, env_var: str, owner: str, name: str) -> str:
    """Resolve a secret now, as 0.4.0's ``__init__`` did.

    :raises ValueError: Haystack's own error for an unset strict env-var secret, or
        :class:`MissingSecretError` (a ValueError) when nothing provides the value.
    :raises SettingsError: (a ValueError) for a value that is not a secret.
    """
    if isinstance(value, HaystackSecret):
        resolved = value.resolve_value()  # Haystack's ValueError names the variables, as in 0.4.0
    elif isinstance(value, str) and not value.startswith("env:"):
        resolved = value  # a literal token (the blog post's style)
    else:
        try:
            secret = Secret.coerce(value)
        except ConfigurationError as exc:
            raise SettingsError(f"{owner}: invalid {name}: {exc}") from None
        resolved = secret.resolve_value()
    if resolved is None:
        # The SDK's own fallback when given None (gradientai's Gradient(access_token=None, ...)).
        resolved = os.environ.get(env_var)
        if resolved is None:
            raise MissingSecretError(
                f"{owner}: {name} resolved to nothing and {env_var} is not set: export {env_var} or pass {name}."
            )
    if not isinstance(resolved, str):
        raise SettingsError(f"{owner}: {name} must resolve to a string, got {type(resolved).__name__}.")
    return resolved


def _secret_dict(value: Any, owner: str, name: str) -> dict[str, Any]:
    """A secret as 0.4.0 serialised it (``Secret.to_dict()``); token secrets raise ValueError."""
    if isinstance(value, HaystackSecret):
        return value.to_dict()  # Haystack's ValueError for a token secret, as in 0.4.0
    if isinstance(value, str) and not value.startswith("env:"):
        raise SecretSerialisationError(
            f"{owner}: cannot serialise {name}: it is a literal token (it would be written to disk). "
            "Use Secret.from_env_var('NAME') instead."
        )
    try:
        return Secret.coerce(value).to_dict()
    except SecretSerialisationError:
        raise
    except ConfigurationError as exc:
        raise SecretSerialisationError(f"{owner}: cannot serialise {name}: {exc}") from None


class GradientDropIn(ProviderComponentBase):
    """Base of the three drop-ins: secrets resolved at construction, the ``gradient`` provider
    created by ``warm_up()`` (no request), 0.4.0's "call warm_up() first" rule, and the guards
    against mocks of 0.4.0's SDK objects."""

    _gradient = sdk_attribute("gradientai.Gradient client")

    def _init_gradient(
        self, *, access_token: Any, workspace_id: Any, host: str | None, settings: dict[str, Any]
    ) -> None:
        owner = type(self).__name__
        self.access_token = access_token
        self.workspace_id = workspace_id
        self.host = host
        token = _resolve_secret(access_token, "GRADIENT_ACCESS_TOKEN", owner, "access_token")
        workspace = _resolve_secret(workspace_id, "GRADIENT_WORKSPACE_ID", owner, "workspace_id")
        # 0.4.0's SDK client read GRADIENT_API_URL when it was created, i.e. here.
        api_url = host if host is not None else (os.environ.get("GRADIENT_API_URL") or None)
        self._empty_secrets = [n for n, v in (("access_token", token), ("workspace_id", workspace)) if not v]
        provider_settings = dict(settings)
        if token:
            provider_settings["access_token"] = Secret.from_token(token)
        if workspace:
            provider_settings["workspace_id"] = Secret.from_token(workspace)
        if api_url is not None:
            provider_settings["host"] = api_url
        # provider=None here so nothing is validated at construction (0.4.0 checked these values at
        # first use); the provider is pinned right after and resolved by warm_up().
        self._init_provider_options(provider=None, settings=provider_settings, profile=None, model=None, retry=None)
        self.provider = PROVIDER

    def _secret_params(self) -> dict[str, Any]:
        owner = type(self).__name__
        return {
            "access_token": _secret_dict(self.access_token, owner, "access_token"),
            "workspace_id": _secret_dict(self.workspace_id, owner, "workspace_id"),
        }

    def warm_up(self) -> None:
        """Create the ``gradient`` provider (validating the settings; no request is sent).
        Idempotent.

        :raises SDKAttributeRemovedError: if a test replaced one of 0.4.0's SDK objects.
        :raises MissingSecretError: (a ValueError) if a secret resolved to an empty string.
        :raises SettingsError: (a ValueError) for an invalid setting (e.g. an empty model name).
        """
        _check_not_mocked(self)
        if self._provider_instance is None and self._empty_secrets:
            names = " and ".join(self._empty_secrets)
            raise MissingSecretError(f"{type(self).__name__}: {names} is an empty string; set it to the real value.")
        ProviderComponentBase.warm_up(self)

    def _warmed_provider(self, error: type[NotWarmedUpError] = NotWarmedUpError) -> Provider:
        """The provider; ``error`` (0.4.0's type) if ``warm_up()`` was not called."""
        _check_not_mocked(self)
        instance = self._provider_instance
        if instance is None:
            message = NOT_WARMED_UP if error is NotWarmedUpError else NOT_WARMED_UP.replace("embedding model", "model")
            raise error(message)
        return instance

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Any:
        deserialize_secrets_inplace(data.get("init_parameters", {}), keys=["access_token", "workspace_id"])
        return default_from_dict(cls, data)


def call_without_retrying_malformed(provider: Provider, fn: Any) -> Any:
    """Run ``fn`` under the provider's retry policy, except that a malformed response is raised at
    once (0.4.0 raised at once; retrying cannot fix what the server sends for this request)."""

    def once() -> Any:
        try:
            return fn()
        except ResponseError as exc:
            exc.retryable = False
            raise

    return provider.retry_policy.call(once)
