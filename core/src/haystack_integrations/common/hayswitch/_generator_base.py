"""What ``ProviderGenerator`` and ``ProviderChatGenerator`` share: option checks at init, and
serialisation of ``generation_kwargs``, the streaming callback and fallbacks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from haystack import default_from_dict, default_to_dict
from haystack.dataclasses import StreamingCallbackT
from haystack.utils import deserialize_callable, serialize_callable

from haystack_integrations.common.hayswitch._base import Capability, ProviderComponentBase
from haystack_integrations.common.hayswitch._generation import serializable_generation_kwargs
from haystack_integrations.common.hayswitch._resilience import FallbackOption
from hayswitch import InvalidInputError, RetryPolicy


class GeneratorComponentBase(FallbackOption, ProviderComponentBase):
    """Base of the two generator components (not a component itself)."""

    _capability: ClassVar[Capability] = "generation"
    generation_kwargs: dict[str, Any]
    streaming_callback: StreamingCallbackT | None

    def _init_generator(
        self,
        *,
        provider: str | None,
        settings: Mapping[str, Any] | None,
        profile: str | None,
        model: str | None,
        retry: Mapping[str, Any] | RetryPolicy | None,
        generation_kwargs: Mapping[str, Any] | None,
        streaming_callback: StreamingCallbackT | None,
        fallbacks: list[str | dict[str, Any]] | None,
        tools: list[dict[str, Any]] | None = None,
    ) -> None:
        """Check and store the generator options; validate ``generation_kwargs`` against the
        provider's options model when the provider is named (no secret is resolved)."""
        owner = type(self).__name__
        if generation_kwargs is not None and not isinstance(generation_kwargs, Mapping):
            raise InvalidInputError(
                f"{owner}: generation_kwargs must be a dict, got {type(generation_kwargs).__name__}."
            )
        if streaming_callback is not None and not callable(streaming_callback):
            raise InvalidInputError(f"{owner}: streaming_callback must be callable.")
        self.generation_kwargs = dict(generation_kwargs or {})
        self.streaming_callback = streaming_callback
        cls = self._init_provider_options(
            provider=provider, settings=settings, profile=profile, model=model, retry=retry
        )
        if cls is not None:
            cls.validate_options({**self.generation_kwargs, **({"tools": tools} if tools else {})})
        self._init_fallbacks(fallbacks)

    def _generator_to_dict(self, **extra: Any) -> dict[str, Any]:
        callback = serialize_callable(self.streaming_callback) if self.streaming_callback else None
        return default_to_dict(
            self,
            **self._provider_init_parameters(),
            generation_kwargs=serializable_generation_kwargs(self.generation_kwargs),
            **extra,
            streaming_callback=callback,
            fallbacks=self.fallbacks,
        )

    @classmethod
    def _generator_from_dict(cls, data: dict[str, Any]) -> Any:
        init = data.get("init_parameters", {})
        if init.get("streaming_callback"):
            data = {
                **data,
                "init_parameters": {**init, "streaming_callback": deserialize_callable(init["streaming_callback"])},
            }
        return default_from_dict(cls, data)
