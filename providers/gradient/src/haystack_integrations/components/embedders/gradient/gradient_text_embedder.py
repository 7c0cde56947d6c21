"""gradient-haystack 0.4.0's ``GradientTextEmbedder`` at its original import path, rebuilt on hayswitch's
``ProviderTextEmbedder`` (see :mod:`hayswitch_gradient._compat` for what changed)."""

from __future__ import annotations

from typing import Any

from haystack import component, default_to_dict
from haystack.utils import Secret as HaystackSecret

from haystack_integrations.components.embedders.hayswitch import ProviderTextEmbedder
from hayswitch_gradient._compat import PROVIDER, SecretInput, from_dict_with_secrets, gradient_settings, secret_params

__all__ = ["GradientTextEmbedder"]


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
            self, provider=PROVIDER, settings=gradient_settings(owner, access_token, workspace_id, host), model=model
        )
        self.host = host

    def to_dict(self) -> dict[str, Any]:
        """Serialise with gradient-haystack's parameters (secrets as env-var references).

        :raises ConfigurationError: if a secret is a literal token.
        """
        return default_to_dict(
            self, model=self.model, host=self.host, **secret_params(self.settings, type(self).__name__)
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientTextEmbedder:
        """Deserialise the component (also reads gradient-haystack 0.4.0 dicts).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return from_dict_with_secrets(cls, data)
