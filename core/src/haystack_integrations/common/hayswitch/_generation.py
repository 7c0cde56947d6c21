"""Generation shared by ProviderChatGenerator and ProviderGenerator: message conversion, options,
streaming into Haystack ``StreamingChunk`` callbacks, and reply metadata in the shape of Haystack's
OpenAI components (``model``, ``index``, ``finish_reason``, ``usage``).

Private to the hayswitch Haystack integration.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from haystack.dataclasses import (
    ChatMessage,
    ComponentInfo,
    FinishReason,
    StreamingCallbackT,
    StreamingChunk,
    SyncStreamingCallbackT,
)

from haystack_integrations.common.hayswitch._resilience import carry_fallback_meta
from hayswitch import (
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    InvalidInputError,
    Message,
    Provider,
    Usage,
)

__all__ = [
    "GenerationOutcome",
    "agenerate_reply",
    "generate_reply",
    "merge_generation_kwargs",
    "to_provider_messages",
    "usage_dict",
]

logger = logging.getLogger("haystack_integrations.hayswitch")

_FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


def usage_dict(usage: Usage | None) -> dict[str, int | None]:
    """Token usage in the shape of Haystack's OpenAI components (keys always present)."""
    prompt = usage.prompt_tokens if usage else None
    completion = usage.completion_tokens if usage else None
    total = usage.total_tokens if usage else None
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def to_provider_messages(messages: Any, owner: str) -> list[Message]:
    """Convert Haystack ``ChatMessage``s (or a prompt string) into provider messages.

    :raises InvalidInputError: for anything but a string or a list of text ``ChatMessage``s.
    """
    if isinstance(messages, str):
        if not messages.strip():
            raise InvalidInputError(f"{owner}: the prompt is empty. Pass a non-empty string or a list of ChatMessage.")
        return [Message.user(messages)]
    if not isinstance(messages, Sequence) or isinstance(messages, bytes | bytearray):
        raise InvalidInputError(
            f"{owner}.run() takes a list of haystack ChatMessage (e.g. [ChatMessage.from_user('...')]) or a "
            f"string, got {type(messages).__name__}."
        )
    out: list[Message] = []
    for i, message in enumerate(messages):
        if not isinstance(message, ChatMessage):
            raise InvalidInputError(
                f"{owner}: messages[{i}] is a {type(message).__name__}, not a haystack ChatMessage. "
                "Build messages with ChatMessage.from_user(...), from_system(...) or from_assistant(...)."
            )
        role = message.role.value
        if role not in ("system", "user", "assistant") or message.tool_calls or message.tool_call_results:
            raise InvalidInputError(
                f"{owner}: messages[{i}] carries tool calls or tool results; hayswitch providers exchange text "
                "only. Remove tool messages or use a Haystack chat generator that supports tools."
            )
        if message.images or message.files:
            raise InvalidInputError(
                f"{owner}: messages[{i}] contains images or files; hayswitch providers accept text only."
            )
        texts = message.texts
        if not texts:
            raise InvalidInputError(f"{owner}: messages[{i}] ({role}) has no text content.")
        out.append(Message(role=role, content="\n".join(texts)))
    if out and not any(m.content.strip() for m in out):
        raise InvalidInputError(f"{owner}: all messages are empty.")
    return out


def merge_generation_kwargs(
    provider_cls: type[Provider], init_kwargs: Mapping[str, Any], run_kwargs: Mapping[str, Any] | None, owner: str
) -> GenerationOptions:
    """Merge init-level and run-level ``generation_kwargs`` (run-level keys win) and validate them
    against the provider's options model, before any request.

    :raises InvalidInputError: naming unknown or invalid options and listing the allowed ones.
    """
    if run_kwargs is not None and not isinstance(run_kwargs, Mapping):
        raise InvalidInputError(f"{owner}: generation_kwargs must be a dict, got {type(run_kwargs).__name__}.")
    return provider_cls.validate_options({**init_kwargs, **(run_kwargs or {})})


@dataclass
class GenerationOutcome:
    """One generated reply: its text and Haystack-shaped metadata."""

    text: str
    meta: dict[str, Any]
    chunks: list[StreamingChunk] = field(default_factory=list)


def _meta(provider: Provider, model: str | None, finish_reason: str | None, usage: Usage | None) -> dict[str, Any]:
    return {
        "model": model or provider.generation_model_id,
        "index": 0,
        "finish_reason": finish_reason,
        "usage": usage_dict(usage),
        "provider": provider.name,
    }


def _check_finish_reason(meta: Mapping[str, Any], owner: str) -> None:
    reason = meta.get("finish_reason")
    if reason == "length":
        logger.warning(
            "%s: the reply was cut at the token limit before a natural stop; raise max_tokens in "
            "generation_kwargs for longer replies.",
            owner,
        )
    elif reason == "content_filter":
        logger.warning("%s: the reply was cut by the provider's content filter.", owner)


def _to_streaming_chunk(
    chunk: GenerationChunk, position: int, provider: Provider, info: ComponentInfo
) -> StreamingChunk:
    return StreamingChunk(
        content=chunk.text,
        meta={
            "model": chunk.model or provider.generation_model_id,
            "index": 0,
            "finish_reason": chunk.finish_reason,
            "received_at": datetime.now().isoformat(),
            "usage": usage_dict(chunk.usage) if chunk.usage is not None else None,
            "provider": provider.name,
            **({"fallback": chunk.meta["fallback"]} if "fallback" in chunk.meta else {}),
        },
        component_info=info,
        index=0,
        start=position == 0,
        finish_reason=_FINISH_REASONS.get(chunk.finish_reason) if chunk.finish_reason else None,
    )


def _single_chunk(result: GenerationResult) -> GenerationChunk:
    """A whole reply as one chunk (for providers that cannot stream)."""
    return GenerationChunk(
        text=result.text, index=0, finish_reason=result.finish_reason, model=result.model, usage=result.usage
    )


def _outcome_from_chunks(chunks: list[StreamingChunk], provider: Provider) -> GenerationOutcome:
    text = "".join(c.content for c in chunks)
    finish = next((c.meta.get("finish_reason") for c in reversed(chunks) if c.meta.get("finish_reason")), None)
    usage = next((c.meta["usage"] for c in reversed(chunks) if c.meta.get("usage") is not None), None)
    model = chunks[-1].meta.get("model") if chunks else None
    meta = {
        "model": model or provider.generation_model_id,
        "index": 0,
        "finish_reason": finish,
        "completion_start_time": chunks[0].meta.get("received_at") if chunks else None,
        "usage": usage if usage is not None else usage_dict(None),
        "provider": provider.name,
    }
    carry_fallback_meta(meta, chunks[0].meta if chunks else {})
    return GenerationOutcome(text=text, meta=meta, chunks=chunks)


def generate_reply(
    component: Any,
    provider: Provider,
    messages: list[Message],
    options: GenerationOptions,
    callback: SyncStreamingCallbackT | None,
) -> GenerationOutcome:
    """Generate one reply; with a callback, stream it chunk by chunk (one chunk if the provider
    cannot stream)."""
    owner = type(component).__name__
    if callback is None:
        result = provider.generate(messages, options)
        outcome = GenerationOutcome(
            text=result.text, meta=_meta(provider, result.model, result.finish_reason, result.usage)
        )
        carry_fallback_meta(outcome.meta, result.meta)
    else:
        info = ComponentInfo.from_component(component)
        chunks: list[StreamingChunk] = []
        source = (
            provider.stream(messages, options)
            if provider.capabilities.streaming
            else iter([_single_chunk(provider.generate(messages, options))])
        )
        for position, chunk in enumerate(source):
            converted = _to_streaming_chunk(chunk, position, provider, info)
            chunks.append(converted)
            callback(converted)
        outcome = _outcome_from_chunks(chunks, provider)
    _check_finish_reason(outcome.meta, owner)
    return outcome


async def agenerate_reply(
    component: Any,
    provider: Provider,
    messages: list[Message],
    options: GenerationOptions,
    callback: StreamingCallbackT | None,
) -> GenerationOutcome:
    """Async twin of :func:`generate_reply`; the callback may be sync or async."""
    owner = type(component).__name__
    if callback is None:
        result = await provider.agenerate(messages, options)
        outcome = GenerationOutcome(
            text=result.text, meta=_meta(provider, result.model, result.finish_reason, result.usage)
        )
        carry_fallback_meta(outcome.meta, result.meta)
    else:
        info = ComponentInfo.from_component(component)
        chunks: list[StreamingChunk] = []

        async def deliver(chunk: GenerationChunk) -> None:
            converted = _to_streaming_chunk(chunk, len(chunks), provider, info)
            chunks.append(converted)
            returned = callback(converted)
            if inspect.isawaitable(returned):
                await returned

        if provider.capabilities.streaming:
            async for chunk in provider.astream(messages, options):
                await deliver(chunk)
        else:
            await deliver(_single_chunk(await provider.agenerate(messages, options)))
        outcome = _outcome_from_chunks(chunks, provider)
    _check_finish_reason(outcome.meta, owner)
    return outcome
