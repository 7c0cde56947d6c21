"""Drop-in replacements for gradient-haystack 0.4.0's components, built on hayswitch's generic ones.

``GradientDocumentEmbedder``, ``GradientTextEmbedder`` and ``GradientGenerator`` accept exactly
the init parameters of gradient-haystack 0.4.0 (``access_token``, ``workspace_id``, ``host``,
``model``, ``batch_size``, ``progress_bar``, ``base_model_slug``, ``model_adapter_id``,
``max_generated_token_count``, ``temperature``, ``top_k``, ``top_p``) and produce the same outputs
(plus a ``meta`` output). They are thin subclasses of ``ProviderDocumentEmbedder``,
``ProviderTextEmbedder`` and ``ProviderGenerator`` with ``provider="gradient"``: all behaviour
(batching, concurrency, retries, errors, serialisation of secrets) is the generic components'.

What changes compared with gradient-haystack 0.4.0 (the old bugs, fixed):

* ``batch_size`` is honoured with or without a progress bar (the old embedder sent every document
  in one ``embed`` call when ``progress_bar=False``). It is the number of documents per request,
  capped at the API's 256; requests run concurrently (the provider's default, 8).
* A document is never returned with a silent ``None`` embedding: a failed batch raises
  :class:`hayswitch.EmbeddingFailedError` naming the document ids; documents without content are
  skipped with a warning and listed in ``meta["skipped_ids"]``.
* Secrets are resolved at ``warm_up()`` (first run), not in ``__init__``: a pipeline can be built,
  serialised and loaded without credentials in the environment.
* Errors are hayswitch errors with a message saying what to do (the old components let the SDK's
  ``ApiException``, ``ValidationError``, ``StopIteration`` and ``MaxRetryError`` through).

Secrets may be Haystack ``Secret`` objects (as in 0.4.0), ``hayswitch.Secret``, ``"env:NAME"``
strings, or -- as in the blog post that introduced the integration -- plain token strings. A plain
string is treated as a literal token: it works, but such a component refuses ``to_dict()`` (as
Haystack does for token secrets) so a credential can never be written into a pipeline file.
"""

from __future__ import annotations

from typing import Any

from haystack import component, default_from_dict, default_to_dict
from haystack.utils import Secret as HaystackSecret
from haystack.utils import deserialize_secrets_inplace

from haystack_integrations.common.hayswitch._base import serialise_settings
from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderGenerator
from hayswitch.errors import ConfigurationError, SettingsError
from hayswitch.secrets import Secret

__all__ = ["GradientDocumentEmbedder", "GradientGenerator", "GradientTextEmbedder"]

PROVIDER = "gradient"
SecretInput = HaystackSecret | Secret | str


def _secret(value: SecretInput, env_var: str, owner: str, name: str) -> Secret:
    """Accept the secret forms described in the module docs."""
    if isinstance(value, str) and not value.startswith("env:"):
        if not value:
            raise SettingsError(f"{owner}: {name} is an empty string; pass Secret.from_env_var({env_var!r}).")
        return Secret.from_token(value)
    try:
        return Secret.coerce(value)
    except ConfigurationError as exc:
        raise SettingsError(f"{owner}: invalid {name}: {exc}") from None


def _settings(
    owner: str, access_token: SecretInput, workspace_id: SecretInput, host: str | None, **extra: Any
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "access_token": _secret(access_token, "GRADIENT_ACCESS_TOKEN", owner, "access_token"),
        "workspace_id": _secret(workspace_id, "GRADIENT_WORKSPACE_ID", owner, "workspace_id"),
    }
    if host is not None:
        settings["host"] = host
    settings.update({k: v for k, v in extra.items() if v is not None})
    return settings


def _secret_params(component_settings: dict[str, Any], owner: str) -> dict[str, Any]:
    """access_token / workspace_id serialised as env-var references (raises for literal tokens)."""
    public = serialise_settings(
        {k: component_settings[k] for k in ("access_token", "workspace_id")},
        owner,
    )
    return {"access_token": public["access_token"], "workspace_id": public["workspace_id"]}


def _from_dict(cls: type[Any], data: dict[str, Any]) -> Any:
    deserialize_secrets_inplace(data.get("init_parameters", {}), keys=["access_token", "workspace_id"])
    return default_from_dict(cls, data)


@component
class GradientDocumentEmbedder(ProviderDocumentEmbedder):
    """gradient-haystack 0.4.0's ``GradientDocumentEmbedder``, on ``ProviderDocumentEmbedder``.

    ```python
    from haystack import Document
    from hayswitch_gradient import GradientDocumentEmbedder

    embedder = GradientDocumentEmbedder()  # GRADIENT_ACCESS_TOKEN / GRADIENT_WORKSPACE_ID at warm-up
    docs = embedder.run([Document(content="Gradient has an embeddings endpoint.")])["documents"]
    ```
    """

    def __init__(
        self,
        *,
        model: str = "bge-large",
        batch_size: int = 32_768,
        access_token: SecretInput = HaystackSecret.from_env_var("GRADIENT_ACCESS_TOKEN"),
        workspace_id: SecretInput = HaystackSecret.from_env_var("GRADIENT_WORKSPACE_ID"),
        host: str | None = None,
        progress_bar: bool = True,
    ) -> None:
        """Create the embedder. No secret is resolved and no request is sent here.

        :param model: the embeddings model slug (Gradient has ``bge-large``, 1024-d).
        :param batch_size: documents per request, capped at the API's 256 (honoured with or
            without a progress bar).
        :param access_token: the Gradient access token (default: env ``GRADIENT_ACCESS_TOKEN``).
        :param workspace_id: the workspace id (default: env ``GRADIENT_WORKSPACE_ID``).
        :param host: the API URL including ``/api`` (default: env ``GRADIENT_API_URL`` or the SDK default).
        :param progress_bar: show a progress bar over the documents.
        """
        owner = type(self).__name__
        # Explicit base calls: @component rebuilds the class, so zero-argument super() cannot be used.
        ProviderDocumentEmbedder.__init__(
            self,
            provider=PROVIDER,
            settings=_settings(owner, access_token, workspace_id, host),
            model=model,
            batch_size=batch_size,
            progress_bar=progress_bar,
        )
        self.host = host

    def to_dict(self) -> dict[str, Any]:
        """Serialise with gradient-haystack's parameters (secrets as env-var references).

        :raises ConfigurationError: if a secret is a literal token.
        """
        return default_to_dict(
            self,
            model=self.model,
            batch_size=self.batch_size,
            host=self.host,
            progress_bar=self.progress_bar,
            **_secret_params(self.settings, type(self).__name__),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientDocumentEmbedder:
        """Deserialise the component (also reads gradient-haystack 0.4.0 dicts).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return _from_dict(cls, data)


@component
class GradientTextEmbedder(ProviderTextEmbedder):
    """gradient-haystack 0.4.0's ``GradientTextEmbedder``, on ``ProviderTextEmbedder``."""

    def __init__(
        self,
        *,
        model: str = "bge-large",
        access_token: SecretInput = HaystackSecret.from_env_var("GRADIENT_ACCESS_TOKEN"),
        workspace_id: SecretInput = HaystackSecret.from_env_var("GRADIENT_WORKSPACE_ID"),
        host: str | None = None,
    ) -> None:
        """Create the embedder. No secret is resolved and no request is sent here.

        :param model: the embeddings model slug (``bge-large``).
        :param access_token: the Gradient access token (default: env ``GRADIENT_ACCESS_TOKEN``).
        :param workspace_id: the workspace id (default: env ``GRADIENT_WORKSPACE_ID``).
        :param host: the API URL including ``/api`` (default: env ``GRADIENT_API_URL`` or the SDK default).
        """
        owner = type(self).__name__
        ProviderTextEmbedder.__init__(
            self, provider=PROVIDER, settings=_settings(owner, access_token, workspace_id, host), model=model
        )
        self.host = host

    def to_dict(self) -> dict[str, Any]:
        """Serialise with gradient-haystack's parameters (secrets as env-var references).

        :raises ConfigurationError: if a secret is a literal token.
        """
        return default_to_dict(
            self, model=self.model, host=self.host, **_secret_params(self.settings, type(self).__name__)
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientTextEmbedder:
        """Deserialise the component (also reads gradient-haystack 0.4.0 dicts).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return _from_dict(cls, data)


@component
class GradientGenerator(ProviderGenerator):
    """gradient-haystack 0.4.0's ``GradientGenerator``, on ``ProviderGenerator``.

    Exactly one of ``base_model_slug`` and ``model_adapter_id`` is required, as before.
    """

    def __init__(
        self,
        *,
        access_token: SecretInput = HaystackSecret.from_env_var("GRADIENT_ACCESS_TOKEN"),
        base_model_slug: str | None = None,
        host: str | None = None,
        max_generated_token_count: int | None = None,
        model_adapter_id: str | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        workspace_id: SecretInput = HaystackSecret.from_env_var("GRADIENT_WORKSPACE_ID"),
    ) -> None:
        """Create the generator. No secret is resolved and no request is sent here.

        :param access_token: the Gradient access token (default: env ``GRADIENT_ACCESS_TOKEN``).
        :param base_model_slug: a base model (e.g. ``llama2-7b-chat``).
        :param host: the API URL including ``/api`` (default: env ``GRADIENT_API_URL`` or the SDK default).
        :param max_generated_token_count: reply length in tokens (1 to 511).
        :param model_adapter_id: a fine-tuned adapter (50-character id).
        :param temperature: sampling temperature.
        :param top_k: top-k sampling (a positive integer).
        :param top_p: nucleus sampling mass.
        :param workspace_id: the workspace id (default: env ``GRADIENT_WORKSPACE_ID``).
        :raises SettingsError: (a ValueError) if neither or both of base_model_slug and
            model_adapter_id are given, or a value is out of range.
        """
        owner = type(self).__name__
        if (base_model_slug is None) == (model_adapter_id is None):
            raise SettingsError(f"{owner}: give exactly one of base_model_slug and model_adapter_id.")
        self.base_model_slug = base_model_slug
        self.model_adapter_id = model_adapter_id
        self.max_generated_token_count = max_generated_token_count
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.host = host
        ProviderGenerator.__init__(
            self,
            provider=PROVIDER,
            settings=_settings(
                owner,
                access_token,
                workspace_id,
                host,
                base_model_slug=base_model_slug,
                model_adapter_id=model_adapter_id,
                max_generated_token_count=max_generated_token_count,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
            ),
            fallbacks=[],
        )

    def to_dict(self) -> dict[str, Any]:
        """Serialise with gradient-haystack's parameters (secrets as env-var references).

        :raises ConfigurationError: if a secret is a literal token.
        """
        return default_to_dict(
            self,
            base_model_slug=self.base_model_slug,
            host=self.host,
            max_generated_token_count=self.max_generated_token_count,
            model_adapter_id=self.model_adapter_id,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            **_secret_params(self.settings, type(self).__name__),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientGenerator:
        """Deserialise the component (also reads gradient-haystack 0.4.0 dicts).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return _from_dict(cls, data)
