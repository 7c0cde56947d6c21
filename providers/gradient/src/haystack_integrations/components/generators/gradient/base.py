"""gradient-haystack 0.4.0's ``GradientGenerator`` at its original import path, rebuilt on hayswitch's
``ProviderGenerator`` (see :mod:`hayswitch_gradient._compat` for what changed)."""

from __future__ import annotations

from typing import Any

from haystack import component, default_to_dict
from haystack.utils import Secret as HaystackSecret

from haystack_integrations.components.generators.hayswitch import ProviderGenerator
from hayswitch.errors import SettingsError
from hayswitch_gradient._compat import PROVIDER, SecretInput, from_dict_with_secrets, gradient_settings, secret_params

__all__ = ["GradientGenerator"]


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
            settings=gradient_settings(
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
            **secret_params(self.settings, type(self).__name__),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientGenerator:
        """Deserialise the component (also reads gradient-haystack 0.4.0 dicts).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return from_dict_with_secrets(cls, data)
