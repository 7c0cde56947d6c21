"""ProviderGenerator: the prompt-string generator (``replies: list[str]``, ``meta: list[dict]``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from haystack import component
from haystack.dataclasses import StreamingCallbackT, select_streaming_callback

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting
from haystack_integrations.common.hayswitch._generation import agenerate_reply, generate_reply, merge_generation_kwargs
from haystack_integrations.common.hayswitch._generator_base import GeneratorComponentBase
from hayswitch import InvalidInputError, Message, RetryPolicy

__all__ = ["ProviderGenerator"]


@component
class ProviderGenerator(GeneratorComponentBase):
    """Generates text from a prompt string with a hayswitch provider.

    The shape of the classic Haystack generators (and of ``GradientGenerator``): ``run(prompt)``
    returns ``replies`` (strings) and ``meta`` (one dict per reply with ``model``, ``index``,
    ``finish_reason``, ``usage`` and ``provider``), so ``PromptBuilder -> generator`` pipelines work
    unchanged.

    Usage example:

    ```python
    from haystack_integrations.components.generators.hayswitch import ProviderGenerator

    generator = ProviderGenerator(provider="fake", generation_kwargs={"max_tokens": 16})
    result = generator.run("What is hayswitch?")
    print(result["replies"][0], result["meta"][0]["finish_reason"])
    ```
    """

    _model_setting: ClassVar[ModelSetting] = "generation_model_setting"
    _capability: ClassVar[Capability] = "generation"

    def __init__(
        self,
        *,
        provider: str | None = None,
        settings: Mapping[str, Any] | None = None,
        profile: str | None = None,
        model: str | None = None,
        retry: Mapping[str, Any] | RetryPolicy | None = None,
        generation_kwargs: dict[str, Any] | None = None,
        system_prompt: str | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        fallbacks: list[str | dict[str, Any]] | None = None,
    ) -> None:
        """Create the generator. No secret is resolved and no request is sent here.

        :param provider: registry name of the provider, or None for whichever provider is configured
            (resolved at warm-up from the environment, ``hayswitch.toml`` or the default).
        :param settings: provider settings (validated against the provider's settings model). Secrets
            may be a Haystack ``Secret``, a ``hayswitch.Secret`` or ``"env:NAME"``; they are serialised
            only as environment-variable references.
        :param profile: a profile of ``hayswitch.toml`` to take the provider and settings from.
        :param model: the generation model id; written into the provider's generation-model setting.
        :param retry: retry policy for failed requests (fields of :class:`hayswitch.RetryPolicy`).
        :param generation_kwargs: default generation options, merged per key with run-level ones and
            validated by the provider's options model before any request.
        :param system_prompt: an optional system message sent before the prompt.
        :param streaming_callback: called with each Haystack ``StreamingChunk``; a run-level callback
            takes precedence.
        :param fallbacks: providers to try in order once this one has given up (after its retries):
            profile or provider names, or ``{"provider": name, "settings": {...}}`` /
            ``{"profile": name, "settings": {...}}``. None uses the active profile's ``fallbacks`` from
            ``hayswitch.toml``; ``[]`` disables them. Which member answered, and why the others were
            skipped, is in each reply's ``meta["fallback"]`` (see :mod:`hayswitch.fallback`).
        :raises ProviderNotFoundError: if ``provider`` is given and not installed.
        :raises SettingsError: if ``provider`` is given and the settings are invalid.
        :raises InvalidInputError: if ``provider`` is given and ``generation_kwargs`` are invalid for it.
        """
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise InvalidInputError("ProviderGenerator: system_prompt must be a string or None.")
        self.system_prompt = system_prompt
        self._init_generator(
            provider=provider,
            settings=settings,
            profile=profile,
            model=model,
            retry=retry,
            generation_kwargs=generation_kwargs,
            streaming_callback=streaming_callback,
            fallbacks=fallbacks,
        )

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (provider by name, secrets as env-var references, the callback
        by its import path).

        :returns: the serialised component.
        :raises ConfigurationError: if a setting holds a literal token secret.
        """
        return self._generator_to_dict(system_prompt=self.system_prompt)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProviderGenerator:
        """Deserialise the component.

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return cls._generator_from_dict(data)

    def _messages(self, prompt: Any) -> list[Message]:
        if not isinstance(prompt, str):
            raise InvalidInputError(
                f"ProviderGenerator.run() takes a prompt string, got {type(prompt).__name__}. "
                "Use ProviderChatGenerator for a list of ChatMessage."
            )
        if not prompt.strip():
            raise InvalidInputError("ProviderGenerator: the prompt is empty.")
        messages = [Message.system(self.system_prompt)] if self.system_prompt else []
        return [*messages, Message.user(prompt)]

    @component.output_types(replies=list[str], meta=list[dict[str, Any]])
    def run(
        self,
        prompt: str,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
    ) -> dict[str, Any]:
        """Generate a reply to a prompt string.

        :param prompt: the prompt (e.g. from a ``PromptBuilder``).
        :param generation_kwargs: options merged per key over the init-level ``generation_kwargs``.
        :param streaming_callback: called with each ``StreamingChunk``; overrides the init callback.
        :returns: a dict with ``replies`` (one string) and ``meta`` (one dict: ``model``, ``index``,
            ``finish_reason``, ``usage``, ``provider``).
        :raises InvalidInputError: for a non-string or empty prompt, or options the provider does not
            accept (raised before any request).
        :raises ProviderError: if the provider fails beyond its retry policy.
        """
        owner = type(self).__name__
        messages = self._messages(prompt)
        provider = self._ready_provider()
        options = merge_generation_kwargs(type(provider), self.generation_kwargs, generation_kwargs, owner)
        callback = select_streaming_callback(
            init_callback=self.streaming_callback, runtime_callback=streaming_callback, requires_async=False
        )
        outcome = generate_reply(self, self._with_fallbacks(provider), messages, options, callback)
        return {"replies": [outcome.text], "meta": [outcome.meta]}

    @component.output_types(replies=list[str], meta=list[dict[str, Any]])
    async def run_async(
        self,
        prompt: str,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
    ) -> dict[str, Any]:
        """Async twin of :meth:`run`; the streaming callback may be sync or async.

        :param prompt: the prompt.
        :param generation_kwargs: options merged per key over the init-level ``generation_kwargs``.
        :param streaming_callback: called (and awaited if async) with each ``StreamingChunk``.
        :returns: a dict with ``replies`` and ``meta``.
        :raises InvalidInputError: for invalid input or options (before any request).
        :raises ProviderError: if the provider fails beyond its retry policy.
        """
        owner = type(self).__name__
        messages = self._messages(prompt)
        provider = self._ready_provider()
        options = merge_generation_kwargs(type(provider), self.generation_kwargs, generation_kwargs, owner)
        callback = select_streaming_callback(
            init_callback=self.streaming_callback, runtime_callback=streaming_callback, requires_async=True
        )
        outcome = await agenerate_reply(self, self._with_fallbacks(provider), messages, options, callback)
        return {"replies": [outcome.text], "meta": [outcome.meta]}
