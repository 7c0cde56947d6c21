"""gradient-haystack 0.4.0's ``GradientDocumentEmbedder`` at its original import path, on the
``gradient`` hayswitch provider (see :mod:`hayswitch_gradient._compat` and ``docs/migration.md``)."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar

from haystack import Document, component, default_to_dict
from haystack.utils import Secret as HaystackSecret
from tqdm import tqdm

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting
from hayswitch.errors import InvalidInputError, InvalidInputTypeError
from hayswitch.provider import Provider
from hayswitch.types import EmbeddingResult
from hayswitch_gradient._compat import GradientDropIn, SecretInput, call_without_retrying_malformed, sdk_attribute

__all__ = ["GradientDocumentEmbedder"]


@component
class GradientDocumentEmbedder(GradientDropIn):
    """Computes Document embeddings with the Gradient API; each Document's ``embedding`` is set.

    gradient-haystack 0.4.0's component, with its parameters, output and errors, on hayswitch's
    ``gradient`` provider. The Documents passed in are the ones returned, with their embeddings
    set (as in 0.4.0).

    ```python
    from haystack import Document, Pipeline
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.gradient import GradientDocumentEmbedder

    # GRADIENT_ACCESS_TOKEN and GRADIENT_WORKSPACE_ID must be set (read here, as in 0.4.0)
    p = Pipeline()
    p.add_component(instance=GradientDocumentEmbedder(), name="document_embedder")
    p.add_component(instance=DocumentWriter(document_store=InMemoryDocumentStore()), name="document_writer")
    p.connect("document_embedder", "document_writer")
    p.run({"document_embedder": {"documents": [Document(content="Gradient has an embeddings endpoint.")]}})
    ```
    """

    _model_setting: ClassVar[ModelSetting] = "embedding_model_setting"
    _capability: ClassVar[Capability] = "embeddings"
    _embedding_model = sdk_attribute("gradientai EmbeddingsModel")

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
        """Create a GradientDocumentEmbedder component. Secrets are resolved here; no request is sent.

        :param model: the embeddings model slug (Gradient has ``bge-large``, 1024-d).
        :param batch_size: with the progress bar, the number of documents per progress step; each
            step is sent in requests of at most 256 documents (the API's limit), as in 0.4.0.
        :param access_token: the Gradient access token (default: env ``GRADIENT_ACCESS_TOKEN``).
        :param workspace_id: the Gradient workspace id (default: env ``GRADIENT_WORKSPACE_ID``).
        :param host: the API URL including ``/api`` (default: env ``GRADIENT_API_URL`` or
            ``https://api.gradient.ai/api``).
        :param progress_bar: show a progress bar while embedding.
        :raises ValueError: if ``access_token`` or ``workspace_id`` cannot be resolved.
        """
        self.batch_size = batch_size
        self.progress_bar = progress_bar
        self._init_gradient(access_token=access_token, workspace_id=workspace_id, host=host, settings={})
        self.model = model

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component as 0.4.0 did.

        :raises ValueError: if a secret is a token (it would be written to disk).
        """
        return default_to_dict(
            self,
            model=self.model,
            batch_size=self.batch_size,
            host=self.host,
            progress_bar=self.progress_bar,
            **self._secret_params(),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientDocumentEmbedder:
        """Deserialise the component (reads the dicts of 0.4.0 and of this class).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return cls._from_dict(data)

    def _request_batches(self, count: int, max_batch: int) -> list[range]:
        """Which documents go in each request: exactly 0.4.0's requests. With the progress bar,
        steps of ``batch_size`` documents; without it, one step of all; the SDK then split each step
        into requests of at most 256 documents."""
        if not self.progress_bar:
            steps = [range(count)]
        else:
            size = self.batch_size
            if isinstance(size, bool) or not isinstance(size, int):
                raise InvalidInputTypeError(f"GradientDocumentEmbedder: batch_size must be an int, got {size!r}.")
            if size < 1:
                raise InvalidInputError(f"GradientDocumentEmbedder: batch_size must be positive, got {size}.")
            steps = [range(start, min(start + size, count)) for start in range(0, count, size)]
        return [
            range(start, min(start + max_batch, step.stop))
            for step in steps
            for start in range(step.start, step.stop, max_batch)
        ]

    def _embed_batch(self, provider: Provider, texts: list[str]) -> EmbeddingResult:
        # The provider's own batch path (count, dimension and finite values checked), retried as the
        # provider's policy says -- except for a malformed response, raised at once.
        return call_without_retrying_malformed(provider, lambda: provider._checked_embed(texts, "document"))

    def _embed_all(self, provider: Provider, texts: list[str]) -> list[list[float]]:
        batches = self._request_batches(len(texts), provider.capabilities.max_batch_size)
        vectors: list[list[float] | None] = [None] * len(texts)
        concurrency = max(1, min(provider.capabilities.max_concurrency, len(batches)))
        with (
            tqdm(total=len(texts), disable=not self.progress_bar, desc="Calculating embeddings", unit="doc") as bar,
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gradient-embed") as pool,
        ):
            futures: dict[Future[EmbeddingResult], range] = {
                pool.submit(self._embed_batch, provider, texts[b.start : b.stop]): b for b in batches
            }
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = futures[future]
                        result = future.result()  # the first failure propagates, as in 0.4.0
                        vectors[batch.start : batch.stop] = result.vectors
                        bar.update(len(batch))
            finally:
                for future in pending:
                    future.cancel()
        return vectors  # type: ignore[return-value]

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed a list of Documents. The embedding of each Document is stored in its ``embedding``
        field; the same Documents are returned.

        :param documents: the Documents to embed.
        :returns: ``{"documents": documents}``.
        :raises TypeError: if ``documents`` is not a list of Documents.
        :raises RuntimeError: if ``warm_up()`` was not called, or the API answered without the
            embeddings.
        :raises ValueError: for a Document whose content is None or empty (before any request).
        :raises ProviderError: if the API fails (after the provider's retries of rate limits, 5xx,
            timeouts and connection errors).
        """
        if not isinstance(documents, list) or (documents and any(not isinstance(d, Document) for d in documents)):
            raise InvalidInputTypeError(
                "GradientDocumentEmbedder expects a list of Documents as input. "
                "In case you want to embed a list of strings, please use the GradientTextEmbedder."
            )
        provider = self._warmed_provider()
        if not documents:
            return {"documents": documents}
        empty = [d.id for d in documents if not isinstance(d.content, str) or not d.content]
        if empty:
            shown = ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else "")
            raise InvalidInputError(
                f"GradientDocumentEmbedder: {len(empty)} Document(s) have no content and the Gradient API cannot "
                f"embed them (nothing was sent): {shown}. Drop them before embedding (e.g. DocumentCleaner)."
            )
        vectors = self._embed_all(provider, [d.content for d in documents])  # type: ignore[misc]
        for doc, vector in zip(documents, vectors, strict=True):
            # In place, as 0.4.0 did (bypassing Haystack's in-place mutation warning on purpose).
            object.__setattr__(doc, "embedding", vector)
        return {"documents": documents}
