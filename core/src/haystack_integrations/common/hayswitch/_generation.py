"""Generation shared by ProviderChatGenerator and ProviderGenerator: message conversion (tool calls
and tool results included), options (Haystack tools, ``response_format``), streaming into Haystack
``StreamingChunk`` callbacks (text chunks, then tool-call chunks with ``ToolCallDelta``s, as
Haystack's OpenAI generator delivers them), and reply metadata in the shape of Haystack's OpenAI
components (``model``, ``index``, ``finish_reason``, ``usage``).

Private to the hayswitch Haystack integration.
"""

from __future__ import annotations

import inspect
import json
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
    TextContent,
    ToolCall,
    ToolCallDelta,
)
from haystack.tools import ToolsType, flatten_tools_or_toolsets
from pydantic import BaseModel

from haystack_integrations.common.hayswitch._resilience import carry_fallback_meta
from hayswitch import (
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    InvalidInputError,
    Message,
    Provider,
    Usage,
    tooling,
)
from hayswitch import ToolCall as ProviderToolCall
from hayswitch.tooling import ToolCallAssembler

__all__ = [
    "GenerationOutcome",
    "agenerate_reply",
    "generate_reply",
    "merge_generation_kwargs",
    "reply_message",
    "serializable_generation_kwargs",
    "to_provider_messages",
    "tool_definitions",
    "usage_dict",
]

logger = logging.getLogger("haystack_integrations.hayswitch")

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
}


def usage_dict(usage: Usage | None) -> dict[str, int | None]:
    """Token usage in the shape of Haystack's OpenAI components (keys always present)."""
    prompt = usage.prompt_tokens if usage else None
    completion = usage.completion_tokens if usage else None
    total = usage.total_tokens if usage else None
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def _result_text(result: Any, owner: str, i: int) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, list):
        parts = []
        for part in result:
            if not isinstance(part, TextContent):
                raise InvalidInputError(
                    f"{owner}: messages[{i}] has a tool result with {type(part).__name__}; hayswitch providers "
                    "accept text tool results only."
                )
            parts.append(part.text)
        return "\n".join(parts)
    return str(result)


def to_provider_messages(messages: Any, owner: str) -> list[Message]:
    """Convert Haystack ``ChatMessage``s (or a prompt string) into provider messages: text, the
    assistant's ``ToolCall``s and ``ToolCallResult``s (a ``tool`` message each, linked by call id).

    :raises InvalidInputError: for anything but a string or a list of ``ChatMessage``s, images or
        files, and messages without content.
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
    # Haystack ToolCalls may lack an id; such calls get one here and their results are linked to
    # it through the call itself (same tool name and arguments).
    assigned: dict[tuple[str, str], str] = {}
    for i, message in enumerate(messages):
        if not isinstance(message, ChatMessage):
            raise InvalidInputError(
                f"{owner}: messages[{i}] is a {type(message).__name__}, not a haystack ChatMessage. "
                "Build messages with ChatMessage.from_user(...), from_system(...) or from_assistant(...)."
            )
        role = message.role.value
        if message.images or message.files:
            raise InvalidInputError(
                f"{owner}: messages[{i}] contains images or files; hayswitch providers accept text only."
            )
        if role == "tool":
            for result in message.tool_call_results:
                origin = result.origin
                call_id = origin.id or assigned.get(_call_key(origin.tool_name, origin.arguments))
                if not call_id:
                    raise InvalidInputError(
                        f"{owner}: messages[{i}] is the result of a call of {origin.tool_name!r} that no earlier "
                        "assistant message made. Keep the assistant message with the tool call before its result."
                    )
                out.append(Message.tool(_result_text(result.result, owner, i), call_id, is_error=bool(result.error)))
            continue
        if role not in ("system", "user", "assistant"):
            raise InvalidInputError(f"{owner}: messages[{i}] has the unsupported role {role!r}.")
        texts = message.texts
        calls = []
        for j, call in enumerate(message.tool_calls if role == "assistant" else []):
            call_id = call.id or f"call_{i}_{j}"
            assigned.setdefault(_call_key(call.tool_name, call.arguments), call_id)
            calls.append(ProviderToolCall(id=call_id, name=call.tool_name, arguments=dict(call.arguments)))
        if message.tool_call_results or (message.tool_calls and role != "assistant"):
            raise InvalidInputError(f"{owner}: messages[{i}] ({role}) carries tool calls or results it cannot carry.")
        if not texts and not calls:
            raise InvalidInputError(f"{owner}: messages[{i}] ({role}) has no text content.")
        out.append(Message(role=role, content="\n".join(texts), tool_calls=tuple(calls)))
    if out and not any(m.content.strip() or m.tool_calls for m in out):
        raise InvalidInputError(f"{owner}: all messages are empty.")
    return out


def _call_key(name: str, arguments: Mapping[str, Any]) -> tuple[str, str]:
    return name, json.dumps(arguments, sort_keys=True, default=str)


def tool_definitions(tools: ToolsType | None, strict: bool) -> list[dict[str, Any]]:
    """Haystack ``Tool``s / ``Toolset``s as hayswitch tool definitions (``tools`` option)."""
    return [{**tool.tool_spec, **({"strict": True} if strict else {})} for tool in flatten_tools_or_toolsets(tools)]


def _response_format_value(value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, BaseModel):
        return {
            "type": "json_schema",
            "json_schema": {"name": value.__name__[:64], "schema": value.model_json_schema()},
        }
    return value


def serializable_generation_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``generation_kwargs`` for ``to_dict``: a pydantic ``response_format`` becomes OpenAI's
    ``{"type": "json_schema", "json_schema": {"name", "schema"}}`` form (as OpenAIChatGenerator does)."""
    out = dict(kwargs)
    if "response_format" in out:
        out["response_format"] = _response_format_value(out["response_format"])
    return out


def merge_generation_kwargs(
    provider_cls: type[Provider],
    init_kwargs: Mapping[str, Any],
    run_kwargs: Mapping[str, Any] | None,
    owner: str,
    *,
    tools: list[dict[str, Any]] | None = None,
) -> GenerationOptions:
    """Merge init-level and run-level ``generation_kwargs`` (run-level keys win), add the Haystack
    tools, and validate them against the provider's options model, before any request.

    :raises InvalidInputError: naming unknown or invalid options and listing the allowed ones,
        invalid tool schemas, duplicate tool names, a ``tool_choice`` naming an unknown tool.
    :raises UnsupportedOperation: for tools or ``response_format`` the provider cannot honour.
    """
    if run_kwargs is not None and not isinstance(run_kwargs, Mapping):
        raise InvalidInputError(f"{owner}: generation_kwargs must be a dict, got {type(run_kwargs).__name__}.")
    merged = {**init_kwargs, **(run_kwargs or {})}
    if tools:
        merged["tools"] = tools
    return provider_cls.validate_options(merged)


@dataclass
class GenerationOutcome:
    """One generated reply: its text and Haystack-shaped metadata."""

    text: str
    meta: dict[str, Any]
    chunks: list[StreamingChunk] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)


def _haystack_calls(calls: Sequence[ProviderToolCall]) -> list[ToolCall]:
    return [ToolCall(tool_name=c.name, arguments=dict(c.arguments), id=c.id) for c in calls]


def reply_message(outcome: GenerationOutcome) -> ChatMessage:
    """The assistant ``ChatMessage`` of a reply (text None when the reply is only tool calls, as in
    Haystack's OpenAI generator)."""
    text = outcome.text if (outcome.text or not outcome.tool_calls) else None
    return ChatMessage.from_assistant(text=text, tool_calls=outcome.tool_calls or None, meta=outcome.meta)


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


class _ChunkConverter:
    """Turns provider chunks into Haystack ``StreamingChunk``s: text chunks (index 0), then one
    chunk per ``ToolCallDelta`` (index = the tool call's index, ``start`` on the delta naming the
    tool), as Haystack's OpenAI generator does. A StreamingChunk carries text or tool calls, never both."""

    def __init__(self, provider: Provider, info: ComponentInfo) -> None:
        self.provider = provider
        self.info = info
        self.text_started = False
        self.position = 0
        self.provider_chunks: list[GenerationChunk] = []

    def convert(self, chunk: GenerationChunk) -> list[StreamingChunk]:
        self.provider_chunks.append(chunk)
        meta: dict[str, Any] = {
            "model": chunk.model or self.provider.generation_model_id,
            "index": 0,
            "finish_reason": None,
            "received_at": datetime.now().isoformat(),
            "usage": None,
            "provider": self.provider.name,
            **({"fallback": chunk.meta["fallback"]} if "fallback" in chunk.meta else {}),
        }
        pieces: list[dict[str, Any]] = []
        if chunk.text or not chunk.tool_calls:
            start = not self.text_started and bool(chunk.text or self.position == 0)
            self.text_started = self.text_started or start
            pieces.append({"content": chunk.text, "meta": dict(meta), "index": 0, "start": start})
        for delta in chunk.tool_calls:
            pieces.append(
                {
                    "content": "",
                    "meta": {**meta, "tool_calls": [delta.model_dump(exclude_none=True)]},
                    "index": delta.index,
                    "tool_calls": [
                        ToolCallDelta(index=delta.index, tool_name=delta.name, arguments=delta.arguments, id=delta.id)
                    ],
                    "start": delta.name is not None,
                }
            )
        # The last piece carries the chunk's finish reason and usage.
        pieces[-1]["meta"]["finish_reason"] = chunk.finish_reason
        pieces[-1]["meta"]["usage"] = usage_dict(chunk.usage) if chunk.usage is not None else None
        pieces[-1]["finish_reason"] = _FINISH_REASONS.get(chunk.finish_reason) if chunk.finish_reason else None
        out = [StreamingChunk(component_info=self.info, **piece) for piece in pieces]
        self.position += 1
        return out


def _single_chunks(result: GenerationResult) -> list[GenerationChunk]:
    """A whole reply as chunks (for providers that cannot stream)."""
    return tooling.result_as_chunks(result)


def _outcome_from_chunks(
    chunks: list[StreamingChunk], provider: Provider, source: list[GenerationChunk]
) -> GenerationOutcome:
    text = "".join(c.content for c in chunks)
    assembler = ToolCallAssembler(provider.name)
    for chunk in source:
        assembler.feed(chunk.tool_calls)
    tool_calls = _haystack_calls(assembler.calls())
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
    return GenerationOutcome(text=text, meta=meta, chunks=chunks, tool_calls=tool_calls)


def _outcome_from_result(provider: Provider, result: GenerationResult) -> GenerationOutcome:
    outcome = GenerationOutcome(
        text=result.text,
        meta=_meta(provider, result.model, result.finish_reason, result.usage),
        tool_calls=_haystack_calls(result.tool_calls),
    )
    carry_fallback_meta(outcome.meta, result.meta)
    if "repeated_tool_call" in result.meta:  # the answer replaced a repeated tool call (hayswitch.tooling)
        outcome.meta["repeated_tool_call"] = result.meta["repeated_tool_call"]
    return outcome


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
        outcome = _outcome_from_result(provider, result)
    else:
        converter = _ChunkConverter(provider, ComponentInfo.from_component(component))
        chunks: list[StreamingChunk] = []
        source = (
            provider.stream(messages, options)
            if provider.capabilities.streaming
            else iter(_single_chunks(provider.generate(messages, options)))
        )
        for chunk in source:
            for converted in converter.convert(chunk):
                chunks.append(converted)
                callback(converted)
        outcome = _outcome_from_chunks(chunks, provider, converter.provider_chunks)
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
        outcome = _outcome_from_result(provider, result)
    else:
        converter = _ChunkConverter(provider, ComponentInfo.from_component(component))
        chunks: list[StreamingChunk] = []

        async def deliver(chunk: GenerationChunk) -> None:
            for converted in converter.convert(chunk):
                chunks.append(converted)
                returned = callback(converted)
                if inspect.isawaitable(returned):
                    await returned

        if provider.capabilities.streaming:
            async for chunk in provider.astream(messages, options):
                await deliver(chunk)
        else:
            for chunk in _single_chunks(await provider.agenerate(messages, options)):
                await deliver(chunk)
        outcome = _outcome_from_chunks(chunks, provider, converter.provider_chunks)
    _check_finish_reason(outcome.meta, owner)
    return outcome
