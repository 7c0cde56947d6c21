"""gradient-haystack 0.4.0's ``GradientTextEmbedder`` at its original import path, on the
``gradient`` hayswitch provider (see :mod:`hayswitch_gradient._compat` and ``docs/migration.md``)."""

from __future__ import annotations

from typing import Any, ClassVar

from haystack import component, default_to_dict
from haystack.utils import Secret as HaystackSecret

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting
from hayswitch.errors import InvalidInputTypeError
from hayswitch.types import EmbeddingResult
from hayswitch_gradient._compat import GradientDropIn, SecretInput, call_without_retrying_malformed, sdk_attribute

__all__ = ["GradientTextEmbedder"]


@component
class GradientTextEmbedder(GradientDropIn):
    """Embeds a string (a query) with the Gradient API.

    gradient-haystack 0.4.0's component, with its parameters, output and errors, on hayswitch's
    ``gradient`` provider.

    ```python
    from haystack import Pipeline
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.gradient import GradientTextEmbedder

    p = Pipeline()
    p.add_component(instance=GradientTextEmbedder(), name="text_embedder")
    p.add_component(instance=InMemoryEmbeddingRetriever(document_store=InMemoryDocumentStore()), name="retriever")
    p.connect("text_embedder", "retriever")
    p.run({"text_embedder": {"text": "embed me!!!"}})
    ```
    """

    _model_setting: ClassVar[ModelSetting] = "embedding_model_setting"
    _capability: ClassVar[Capability] = "embeddings"
    _embedding_model = sdk_attribute("gradientai EmbeddingsModel")

    def __init__(
        self,
        *,
        model: str = "bge-large",
        access_token: SecretInput = HaystackSecret.from_env_var("GRADIENT_ACCESS_TOKEN"),
        workspace_id: SecretInput = HaystackSecret.from_env_var("GRADIENT_WORKSPACE_ID"),
        host: str | None = None,
    ) -> None:
        """Create a GradientTextEmbedder component. Secrets are resolved here; no request is sent.

        :param model: the embeddings model slug (``bge-large``).
        :param access_token: the Gradient access token (default: env ``GRADIENT_ACCESS_TOKEN``).
        :param workspace_id: the Gradient workspace id (default: env ``GRADIENT_WORKSPACE_ID``).
        :param host: the API URL including ``/api`` (default: env ``GRADIENT_API_URL`` or
            ``https://api.gradient.ai/api``).
        :raises ValueError: if ``access_token`` or ``workspace_id`` cannot be resolved.
        """
        self._init_gradient(access_token=access_token, workspace_id=workspace_id, host=host, settings={})
        self.model = model

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component as 0.4.0 did.

        :raises ValueError: if a secret is a token (it would be written to disk).
        """
        return default_to_dict(self, model=self.model, host=self.host, **self._secret_params())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientTextEmbedder:
        """Deserialise the component (reads the dicts of 0.4.0 and of this class).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return cls._from_dict(data)

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        """Generate an embedding for a single text.

        :param text: the text to embed.
        :returns: ``{"embedding": [...]}``.
        :raises TypeError: if ``text`` is not a string.
        :raises RuntimeError: if ``warm_up()`` was not called, or the API answered without an embedding.
        :raises ValueError: for an empty string (the API rejects it; nothing is sent).
        :raises ProviderError: if the API fails (after the provider's retries of rate limits, 5xx,
            timeouts and connection errors).
        """
        if not isinstance(text, str):
            raise InvalidInputTypeError(
                "GradientTextEmbedder expects a string as an input. "
                "In case you want to embed a list of Documents, please use the GradientDocumentEmbedder."
            )
        provider = self._warmed_provider()
        result: EmbeddingResult = call_without_retrying_malformed(
            provider,
            lambda: provider._checked_embed([text], "query"),
        )
        return {"embedding": result.vectors[0]}
