"""ProviderTextEmbedder: embed one string (a query) with whichever provider is configured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NotRequired, TypedDict

from haystack import component, default_from_dict, default_to_dict

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting, ProviderComponentBase
from haystack_integrations.common.hayswitch._generation import usage_dict
from haystack_integrations.common.hayswitch._resilience import CacheOption, FallbackOption
from hayswitch import InvalidInputError, Provider, RetryPolicy, TextEmbedding
from hayswitch.cache import CacheNamespace, aembed_text_with_cache, embed_text_with_cache
from hayswitch.errors import InvalidInputTypeError

__all__ = ["ProviderTextEmbedder", "TextEmbeddingMeta"]


class TextEmbeddingMeta(TypedDict):
    """The ``meta`` output of :class:`ProviderTextEmbedder`.

    A dedicated type (rather than ``dict[str, Any]``) so that ``pipeline.connect("text_embedder",
    "retriever")`` is unambiguous: a plain dict output would also match a retriever's ``filters``.
    """

    provider: str
    model: str
    dimension: int
    usage: dict[str, int | None]
    cache: NotRequired[dict[str, int]]
    fallback: NotRequired[dict[str, Any]]


@component
class ProviderTextEmbedder(CacheOption, FallbackOption, ProviderComponentBase):
    """Embeds a string (typically a query) with a hayswitch provider.

    The provider is whichever one is configured (``provider=None``: the ``HAYSWITCH_PROVIDER`` /
    ``HAYSWITCH_PROFILE`` environment variables, ``hayswitch.toml``, or the default ``local``), or the
    one named by ``provider``. Use the same provider and model as the
    :class:`ProviderDocumentEmbedder` that indexed the documents.

    Usage example:

    ```python
    from haystack_integrations.components.embedders.hayswitch import ProviderTextEmbedder

    embedder = ProviderTextEmbedder(provider="fake")
    result = embedder.run("What is hayswitch?")
    print(len(result["embedding"]), result["meta"]["model"])
    ```
    """

    _model_setting: ClassVar[ModelSetting] = "embedding_model_setting"
    _capability: ClassVar[Capability] = "embeddings"

    def __init__(
        self,
        *,
        provider: str | None = None,
        settings: Mapping[str, Any] | None = None,
        profile: str | None = None,
        model: str | None = None,
        retry: Mapping[str, Any] | RetryPolicy | None = None,
        prefix: str = "",
        suffix: str = "",
        cache: bool | str | None = None,
        fallbacks: list[str | dict[str, Any]] | None = None,
    ) -> None:
        """Create the embedder. No secret is resolved and no request is sent here.

        :param provider: registry name of the provider (``"fake"``, ``"local"``, ...), or None for
            whichever provider is configured (resolved at warm-up).
        :param settings: provider settings (validated against the provider's settings model).
            Secrets may be a Haystack ``Secret``, a ``hayswitch.Secret`` or ``"env:NAME"``; they are
            serialised only as environment-variable references.
        :param profile: a profile of ``hayswitch.toml`` to take the provider and settings from.
        :param model: the embedding model id; written into the provider's embedding-model setting.
        :param retry: retry policy for failed requests (fields of :class:`hayswitch.RetryPolicy`).
        :param prefix: text prepended to the input (e.g. a query instruction).
        :param suffix: text appended to the input.
        :param cache: persistent embedding cache (:mod:`hayswitch.cache`): None/False (off), True
            (``.hayswitch/cache.sqlite``) or a SQLite file path; ``meta["cache"]`` reports the hit/miss.
        :param fallbacks: providers to try once this one has given up, within the same embedding space
            (checked by ``warm_up()``); see :class:`ProviderDocumentEmbedder`.
        :raises ProviderNotFoundError: if ``provider`` is given and not installed.
        :raises SettingsError: if ``provider`` is given and the settings are invalid.
        """
        if not isinstance(prefix, str) or not isinstance(suffix, str):
            raise InvalidInputError("ProviderTextEmbedder: prefix and suffix must be strings.")
        self.prefix = prefix
        self.suffix = suffix
        self._init_cache(cache)
        self._init_fallbacks(fallbacks)
        self._init_provider_options(provider=provider, settings=settings, profile=profile, model=model, retry=retry)

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (provider by name, secrets as env-var references).

        :returns: the serialised component.
        :raises ConfigurationError: if a setting holds a literal token secret.
        """
        return default_to_dict(
            self,
            **self._provider_init_parameters(),
            prefix=self.prefix,
            suffix=self.suffix,
            cache=self.cache,
            fallbacks=self.fallbacks,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProviderTextEmbedder:
        """Deserialise the component.

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    def _text(self, text: Any) -> str:
        if not isinstance(text, str):
            hint = " Use ProviderDocumentEmbedder to embed Documents." if isinstance(text, list | tuple) else ""
            raise InvalidInputTypeError(f"ProviderTextEmbedder.run() takes a string, got {type(text).__name__}.{hint}")
        if not text.strip():
            raise InvalidInputError("ProviderTextEmbedder: the text is empty; pass a non-empty query.")
        return self.prefix + text + self.suffix

    def _embed_query(self, provider: Provider, text: str) -> TextEmbedding:
        """Embed one query text (the single call to the provider)."""
        cache = self._embedding_cache()
        if cache is None:
            return provider.embed_text(text)
        return embed_text_with_cache(cache, CacheNamespace.for_provider(provider, "query"), text, provider.embed_text)

    async def _aembed_query(self, provider: Provider, text: str) -> TextEmbedding:
        """Async twin of :meth:`_embed_query`."""
        cache = self._embedding_cache()
        if cache is None:
            return await provider.aembed_text(text)
        namespace = CacheNamespace.for_provider(provider, "query")
        return await aembed_text_with_cache(cache, namespace, text, provider.aembed_text)

    @staticmethod
    def _output(provider: Provider, result: TextEmbedding) -> dict[str, Any]:
        meta: TextEmbeddingMeta = {
            "provider": provider.name,
            "model": result.model,
            "dimension": result.dimension,
            "usage": usage_dict(result.usage),
        }
        if "cache" in result.meta:
            meta["cache"] = result.meta["cache"]
        if "fallback" in result.meta:
            meta["fallback"] = result.meta["fallback"]
        return {"embedding": result.vector, "meta": meta}

    @component.output_types(embedding=list[float], meta=TextEmbeddingMeta)
    def run(self, text: str) -> dict[str, Any]:
        """Embed a string.

        :param text: the text to embed.
        :returns: a dict with ``embedding`` (the vector) and ``meta`` (``provider``, ``model``,
            ``dimension``, ``usage``).
        :raises InvalidInputError: if ``text`` is not a non-empty string.
        :raises ProviderError: if the provider fails beyond its retry policy.
        """
        query = self._text(text)
        provider = self._with_fallbacks(self._ready_provider())
        return self._output(provider, self._embed_query(provider, query))

    @component.output_types(embedding=list[float], meta=TextEmbeddingMeta)
    async def run_async(self, text: str) -> dict[str, Any]:
        """Async twin of :meth:`run`.

        :param text: the text to embed.
        :returns: a dict with ``embedding`` and ``meta``.
        :raises InvalidInputError: if ``text`` is not a non-empty string.
        :raises ProviderError: if the provider fails beyond its retry policy.
        """
        query = self._text(text)
        provider = self._with_fallbacks(self._ready_provider())
        return self._output(provider, await self._aembed_query(provider, query))
