"""gradient-haystack 0.4.0's ``GradientDocumentEmbedder`` at its original import path, rebuilt on hayswitch's
``ProviderDocumentEmbedder`` (see :mod:`hayswitch_gradient._compat` for what changed)."""

from __future__ import annotations

from typing import Any

from haystack import component, default_to_dict
from haystack.utils import Secret as HaystackSecret

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
from hayswitch_gradient._compat import PROVIDER, SecretInput, from_dict_with_secrets, gradient_settings, secret_params

__all__ = ["GradientDocumentEmbedder"]


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
            settings=gradient_settings(owner, access_token, workspace_id, host),
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
            **secret_params(self.settings, type(self).__name__),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientDocumentEmbedder:
        """Deserialise the component (also reads gradient-haystack 0.4.0 dicts).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return from_dict_with_secrets(cls, data)
