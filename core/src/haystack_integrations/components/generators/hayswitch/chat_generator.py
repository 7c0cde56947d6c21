"""ProviderChatGenerator: Haystack 3 ChatGenerator backed by whichever provider is configured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from haystack import component
from haystack.dataclasses import ChatMessage, StreamingCallbackT, select_streaming_callback
from haystack.tools import (
    ToolsType,
    _check_duplicate_tool_names,
    deserialize_tools_or_toolset_inplace,
    flatten_tools_or_toolsets,
    serialize_tools_or_toolset,
)

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting
from haystack_integrations.common.hayswitch._generation import (
    agenerate_reply,
    generate_reply,
    merge_generation_kwargs,
    reply_message,
    to_provider_messages,
    tool_definitions,
)
from haystack_integrations.common.hayswitch._generator_base import GeneratorComponentBase
from hayswitch import InvalidInputError, Provider, RetryPolicy

__all__ = ["ProviderChatGenerator"]


@component
class ProviderChatGenerator(GeneratorComponentBase):
    """Completes chats with a hayswitch provider, following Haystack's ChatGenerator protocol.

    Each reply's meta carries ``model``, ``index``, ``finish_reason``, ``usage``
    (``prompt_tokens``, ``completion_tokens``, ``total_tokens``) and ``provider``, like Haystack's
    OpenAI components. With a streaming callback, Haystack ``StreamingChunk``s are delivered as they
    arrive (a provider that cannot stream delivers the whole reply as one chunk).

    Tools follow Haystack's ChatGenerator contract (as ``OpenAIChatGenerator``): ``tools`` (a list
    of ``Tool``, a ``Toolset`` or a mix) at init or per run; replies carry ``ToolCall``s; incoming
    ``ToolCallResult`` messages are passed on; tool-call deltas stream as ``StreamingChunk``s with
    ``tool_calls``. So ``Agent(chat_generator=ProviderChatGenerator(), tools=[...])`` works on every
    provider that declares tools (natively or emulated). ``generation_kwargs={"response_format": X}``
    (a pydantic model class, OpenAI's ``{"type": "json_schema", "json_schema": {...}}`` form or a
    bare JSON schema) makes the reply text JSON valid against the schema.

    Usage example:

    ```python
    from haystack.dataclasses import ChatMessage
    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    llm = ProviderChatGenerator(provider="fake", generation_kwargs={"max_tokens": 16})
    result = llm.run([ChatMessage.from_user("What is hayswitch?")])
    print(result["replies"][0].text, result["replies"][0].meta["usage"])
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
        streaming_callback: StreamingCallbackT | None = None,
        fallbacks: list[str | dict[str, Any]] | None = None,
        tools: ToolsType | None = None,
        tools_strict: bool = False,
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
        :param generation_kwargs: default generation options (``max_tokens``, ``temperature``,
            ``top_p``, ``stop``, ``seed`` and the provider's own), merged per key with run-level ones
            and validated by the provider's options model before any request.
        :param streaming_callback: called with each Haystack ``StreamingChunk``; a run-level callback
            takes precedence.
        :param fallbacks: providers to try in order once this one has given up (after its retries):
            profile or provider names, or ``{"provider": name, "settings": {...}}`` /
            ``{"profile": name, "settings": {...}}``. None uses the active profile's ``fallbacks`` from
            ``hayswitch.toml``; ``[]`` disables them. Which member answered, and why the others were
            skipped, is in each reply's ``meta["fallback"]`` (see :mod:`hayswitch.fallback`).
        :param tools: Haystack ``Tool``s and/or ``Toolset``s the model may call (overridden per run).
        :param tools_strict: ask backends that support it to enforce the tool schemas exactly
            (OpenAI's ``strict``); hayswitch validates every tool call's arguments either way.
        :raises ProviderNotFoundError: if ``provider`` is given and not installed.
        :raises SettingsError: if ``provider`` is given and the settings are invalid.
        :raises InvalidInputError: if ``provider`` is given and ``generation_kwargs`` or ``tools`` are
            invalid for it; for duplicate tool names.
        """
        _check_duplicate_tool_names(flatten_tools_or_toolsets(tools))
        self.tools = tools
        self.tools_strict = tools_strict
        self._init_generator(
            provider=provider,
            settings=settings,
            profile=profile,
            model=model,
            retry=retry,
            generation_kwargs=generation_kwargs,
            streaming_callback=streaming_callback,
            fallbacks=fallbacks,
            tools=tool_definitions(tools, tools_strict),
        )

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (provider by name, secrets as env-var references, the callback
        by its import path).

        :returns: the serialised component.
        :raises ConfigurationError: if a setting holds a literal token secret.
        """
        return self._generator_to_dict(tools=serialize_tools_or_toolset(self.tools), tools_strict=self.tools_strict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProviderChatGenerator:
        """Deserialise the component.

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        init = dict(data.get("init_parameters", {}))
        deserialize_tools_or_toolset_inplace(init, key="tools")
        return cls._generator_from_dict({**data, "init_parameters": init})

    def _options(
        self,
        provider: Provider,
        generation_kwargs: dict[str, Any] | None,
        tools: ToolsType | None,
        tools_strict: bool | None,
    ) -> Any:
        owner = type(self).__name__
        resolved = tools if tools is not None else self.tools
        strict = tools_strict if tools_strict is not None else self.tools_strict
        flat = flatten_tools_or_toolsets(resolved)
        try:
            _check_duplicate_tool_names(flat)
        except ValueError as exc:
            raise InvalidInputError(f"{owner}: {exc}") from None
        return merge_generation_kwargs(
            type(provider), self.generation_kwargs, generation_kwargs, owner, tools=tool_definitions(flat, strict)
        )

    @component.output_types(replies=list[ChatMessage])
    def run(
        self,
        messages: list[ChatMessage] | str,
        streaming_callback: StreamingCallbackT | None = None,
        generation_kwargs: dict[str, Any] | None = None,
        *,
        tools: ToolsType | None = None,
        tools_strict: bool | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """Generate a reply to the messages.

        :param messages: a list of ``ChatMessage`` (system, user, assistant with text and/or tool
            calls, tool messages with ``ToolCallResult``s) or a prompt string (a single user
            message). An empty list gives no replies.
        :param streaming_callback: called with each ``StreamingChunk``; overrides the init callback.
            Must be a regular function here (async callbacks need ``run_async``).
        :param generation_kwargs: options merged per key over the init-level ``generation_kwargs``.
        :param tools: ``Tool``s and/or ``Toolset``s for this run; overrides the init-level ``tools``.
        :param tools_strict: overrides the init-level ``tools_strict``.
        :returns: a dict with ``replies``: one assistant ``ChatMessage`` (text and/or ``ToolCall``s)
            whose meta has ``model``, ``index``, ``finish_reason``, ``usage`` and ``provider``.
        :raises InvalidInputError: for non-ChatMessage input, options or tools the provider does not
            accept, a tool result answering no call (raised before any request).
        :raises UnsupportedOperation: for tools or ``response_format`` on a provider without them.
        :raises ProviderError: if the provider fails beyond its retry policy.
        """
        owner = type(self).__name__
        msgs = to_provider_messages(messages, owner)
        provider = self._ready_provider()
        options = self._options(provider, generation_kwargs, tools, tools_strict)
        callback = select_streaming_callback(
            init_callback=self.streaming_callback, runtime_callback=streaming_callback, requires_async=False
        )
        if not msgs:
            return {"replies": []}
        outcome = generate_reply(self, self._with_fallbacks(provider), msgs, options, callback)
        return {"replies": [reply_message(outcome)]}

    @component.output_types(replies=list[ChatMessage])
    async def run_async(
        self,
        messages: list[ChatMessage] | str,
        streaming_callback: StreamingCallbackT | None = None,
        generation_kwargs: dict[str, Any] | None = None,
        *,
        tools: ToolsType | None = None,
        tools_strict: bool | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """Async twin of :meth:`run`; the streaming callback may be sync or async.

        :param messages: a list of ``ChatMessage`` or a prompt string.
        :param streaming_callback: called (and awaited if async) with each ``StreamingChunk``.
        :param generation_kwargs: options merged per key over the init-level ``generation_kwargs``.
        :param tools: ``Tool``s and/or ``Toolset``s for this run; overrides the init-level ``tools``.
        :param tools_strict: overrides the init-level ``tools_strict``.
        :returns: a dict with ``replies``.
        :raises InvalidInputError: for invalid input or options (before any request).
        :raises ProviderError: if the provider fails beyond its retry policy.
        """
        owner = type(self).__name__
        msgs = to_provider_messages(messages, owner)
        provider = self._ready_provider()
        options = self._options(provider, generation_kwargs, tools, tools_strict)
        callback = select_streaming_callback(
            init_callback=self.streaming_callback, runtime_callback=streaming_callback, requires_async=True
        )
        if not msgs:
            return {"replies": []}
        outcome = await agenerate_reply(self, self._with_fallbacks(provider), msgs, options, callback)
        return {"replies": [reply_message(outcome)]}
