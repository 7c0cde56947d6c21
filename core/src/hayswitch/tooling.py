"""Tools and structured output: request checks, response checks, and the one emulation layer.

Three parts, all used by :class:`hayswitch.Provider` so that a provider author writes none of them:

* **Request checks** (before anything is sent): tool definitions are valid JSON schemas of an
  object, names are unique, ``tool_choice`` names a declared tool, ``response_format`` is a valid
  schema, and every ``tool`` message answers a call made earlier in the conversation.
* **Response checks**: a tool call must name a declared tool and carry arguments that are a JSON
  object valid against the tool's schema; with ``response_format`` the reply text must be JSON
  valid against the schema. Anything else is a :class:`~hayswitch.errors.ResponseError`
  (retryable), never passed on silently.
* **Emulation** for providers that declare ``tools="emulated"`` or
  ``structured_output="emulated"``: the tool definitions (or the schema) go into the system
  prompt, the conversation's tool calls and results are rendered as text, the reply is parsed
  (the first JSON value in it), and invalid output is sent back to the model with the problem
  stated, at most :data:`EMULATION_ATTEMPTS` times. A provider whose backend enforces JSON schemas
  (``structured_output="native"``) gets the reply schema passed as ``response_format``, so an
  emulated tool call is then well-formed by construction (grammar-constrained decoding).
* **Repair** of native structured output (:func:`structured_generation`): backends' schema
  grammars drop constraints (numeric bounds, lengths) and any reply can be cut off at
  ``max_tokens``; such a reply is never returned. It is fed back with the same wording as in
  emulation, and a cut-off is retried with a larger budget (:data:`CUTOFF_GROWTH`).

This module does not import Haystack.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hayswitch.errors import InvalidInputError, ResponseError, UnsupportedOperation
from hayswitch.types import (
    Capabilities,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    Message,
    NamedToolChoice,
    ResponseFormat,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
)

if TYPE_CHECKING:
    import jsonschema.protocols

    from hayswitch.provider import Provider

__all__ = [
    "ANSWER_CHOICE",
    "CUTOFF_GROWTH",
    "CUTOFF_MAX_GROWTH",
    "EMULATION_ATTEMPTS",
    "ToolCallAssembler",
    "aanswer_repeated",
    "aemulate_generation",
    "answer_messages",
    "answer_repeated",
    "astructured_generation",
    "check_messages",
    "check_options",
    "check_result",
    "check_structured_text",
    "check_tool_calls",
    "choose_tool",
    "emulate_generation",
    "extract_json",
    "grammar_schema",
    "guards_repeats",
    "needs_emulation",
    "new_call_id",
    "parse_arguments",
    "repeated_call",
    "reply_schema",
    "result_as_chunks",
    "schema_errors",
    "structured_generation",
]

EMULATION_ATTEMPTS = 3
"""How many replies the emulation layer (and the repair of native structured output) asks for
before giving up with a ResponseError."""
CUTOFF_GROWTH = 2
"""After a structured reply is cut off at ``max_tokens``, the next attempt's budget is this many
times larger, up to :data:`CUTOFF_MAX_GROWTH` times the request's own budget."""
CUTOFF_MAX_GROWTH = 4


def new_call_id() -> str:
    """A fresh tool-call id (for backends that do not assign one)."""
    return "call_" + uuid.uuid4().hex[:24]


# --------------------------------------------------------------------------- schemas


# jsonschema (with attrs, referencing, rpds: ~60 ms) is imported on first use: most commands never
# check a schema, and every process that imports hayswitch would otherwise pay for it.


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def _check_schema(schema: Any, what: str) -> None:
    if not isinstance(schema, dict):
        raise InvalidInputError(f"{what} must be a JSON schema (a dict), got {type(schema).__name__}.")
    import jsonschema
    from jsonschema.exceptions import SchemaError

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidInputError(f"Invalid JSON schema in {what}: {exc.message} (at {where}).") from None


def schema_errors(instance: Any, schema: dict[str, Any], limit: int = 3) -> list[str]:
    """Readable problems of ``instance`` against ``schema`` (empty when valid)."""
    out = []
    for err in sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.path))[:limit]:
        where = "/".join(str(p) for p in err.path) or "(root)"
        out.append(f"{where}: {err.message}")
    return out


_SMALL_RANGE = 256
_RANGE_KEYS = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING_SHAPES = ("enum", "const", "pattern", "format")


def grammar_schema(
    schema: Any,
    *,
    max_length: int | None = None,
    max_items: int | None = None,
    plain_strings: bool = False,
) -> Any:
    """``schema`` rewritten for a backend that turns JSON schemas into a decoding grammar
    (llama.cpp), so that generation is bounded by construction. Replies are still validated
    against the original schema; every reply valid here is valid there.

    * Bounded integer ranges (at most 256 values) become enums: llama.cpp's converter enforces
      enums but ignores ``minimum``/``maximum``.
    * ``max_length``: strings without a ``maxLength`` get this one (a small model can otherwise
      loop inside a string until the token budget runs out, leaving cut-off JSON).
    * ``max_items``: arrays without ``maxItems`` get this one (likewise for lists), never below their
      ``minItems``.
    * ``plain_strings``: free strings (no enum, const, pattern or format) become the pattern
      ``^[^"\\<control characters>]{min,max}$``, which keeps raw control characters (invalid in
      JSON, but admitted by llama.cpp's string rule) and escapes out of the reply, for servers whose
      grammar hayswitch cannot edit.
    """

    def inner(node: Any) -> Any:
        return grammar_schema(node, max_length=max_length, max_items=max_items, plain_strings=plain_strings)

    if isinstance(schema, list):
        return [inner(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v if k in ("enum", "const", "default", "examples") else inner(v) for k, v in schema.items()}
    kind = out.get("type")
    if kind == "integer" and "enum" not in out:
        low = out.get("minimum", out["exclusiveMinimum"] + 1 if isinstance(out.get("exclusiveMinimum"), int) else None)
        high = out.get("maximum", out["exclusiveMaximum"] - 1 if isinstance(out.get("exclusiveMaximum"), int) else None)
        if isinstance(low, int) and isinstance(high, int) and 0 <= high - low < _SMALL_RANGE:
            step = out.get("multipleOf", 1) if isinstance(out.get("multipleOf"), int) else 1
            values = [v for v in range(low, high + 1) if v % step == 0]
            return {**{k: v for k, v in out.items() if k not in _RANGE_KEYS}, "enum": values}
    if kind == "string" and not any(k in out for k in _STRING_SHAPES):
        longest = out.get("maxLength", max_length)
        if plain_strings:
            shortest = out.get("minLength", 0)
            bound = "*" if longest is None else f"{{{shortest},{max(longest, shortest)}}}"
            if longest is None and shortest:
                bound = f"{{{shortest},}}"
            rest = {k: v for k, v in out.items() if k not in ("minLength", "maxLength")}
            return {**rest, "pattern": '^[^"\\\\\\x00-\\x1f]' + bound + "$"}
        if longest is not None:
            out["maxLength"] = longest
    if kind == "array" and max_items is not None and "maxItems" not in out:
        out["maxItems"] = max(max_items, out.get("minItems", 0) if isinstance(out.get("minItems"), int) else 0)
    return out


# --------------------------------------------------------------------------- request checks


def check_options(options: GenerationOptions, capabilities: Capabilities, provider: str) -> None:
    """Check the tool and structured-output options of one request (nothing is sent yet).

    :raises InvalidInputError: for an invalid tool schema, duplicate tool names, a ``tool_choice``
        naming an unknown tool (or requiring a tool when none is given), an invalid schema in
        ``response_format``.
    :raises UnsupportedOperation: for tools or ``response_format`` on a provider that cannot
        honour them.
    """
    tools = options.tools or []
    if tools and capabilities.tools is None:
        raise UnsupportedOperation(
            provider, "tools", "Choose a provider whose capabilities list tools (see 'hayswitch providers')."
        )
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise InvalidInputError(f"Two tools are named {tool.name!r}; tool names must be unique.")
        seen.add(tool.name)
        _check_schema(tool.parameters, f"the parameters of tool {tool.name!r}")
        if tool.parameters.get("type", "object") != "object":
            raise InvalidInputError(
                f"The parameters of tool {tool.name!r} must be a JSON schema of type 'object' (the arguments "
                f"are a JSON object), got type {tool.parameters.get('type')!r}."
            )
    choice = options.tool_choice
    if isinstance(choice, NamedToolChoice) and choice.name not in seen:
        known = ", ".join(sorted(seen)) or "none"
        raise InvalidInputError(f"tool_choice names the tool {choice.name!r}, which is not among the tools ({known}).")
    if choice == "required" and not tools:
        raise InvalidInputError("tool_choice='required' needs at least one tool in 'tools'.")
    fmt = options.response_format
    if fmt is not None:
        if capabilities.structured_output is None:
            raise UnsupportedOperation(
                provider,
                "response_format",
                "It cannot guarantee JSON valid against a schema; choose a provider whose capabilities list "
                "structured_output (see 'hayswitch providers').",
            )
        _check_schema(fmt.json_schema, "response_format")


def check_messages(messages: Sequence[Message], capabilities: Capabilities, provider: str) -> None:
    """Check the tool calls and tool results of a conversation.

    :raises InvalidInputError: for a tool result whose ``tool_call_id`` matches no earlier call.
    :raises UnsupportedOperation: for tool messages on a provider without tools.
    """
    calls: dict[str, str] = {}
    for i, message in enumerate(messages):
        if (message.tool_calls or message.role == "tool") and capabilities.tools is None:
            raise UnsupportedOperation(
                provider, "tool messages", "The conversation carries tool calls or results; use a provider with tools."
            )
        for call in message.tool_calls:
            calls[call.id] = call.name
        if message.role == "tool" and message.tool_call_id not in calls:
            known = ", ".join(repr(c) for c in calls) or "none"
            raise InvalidInputError(
                f"messages[{i}] is the result of tool call {message.tool_call_id!r}, but no earlier assistant "
                f"message made that call (calls so far: {known}). Keep the assistant message with the tool call "
                "before its result."
            )


# --------------------------------------------------------------------------- response checks


def parse_arguments(raw: str | dict[str, Any] | None, tool: str, provider: str) -> dict[str, Any]:
    """A tool call's arguments as a dict.

    :raises ResponseError: (retryable) if they are not a JSON object.
    """
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise ResponseError(
            f"The backend called tool {tool!r} with arguments that are not valid JSON ({exc}).",
            provider=provider,
            retryable=True,
        ) from None
    if not isinstance(value, dict):
        raise ResponseError(
            f"The backend called tool {tool!r} with arguments that are not a JSON object.",
            provider=provider,
            retryable=True,
        )
    return value


def check_tool_calls(calls: Sequence[ToolCall], options: GenerationOptions, provider: str) -> None:
    """Each call names a declared tool and its arguments are valid against the tool's schema.

    :raises ResponseError: (retryable) otherwise.
    """
    if not calls:
        if options.tools and (options.tool_choice == "required" or isinstance(options.tool_choice, NamedToolChoice)):
            raise ResponseError(
                "tool_choice required a tool call, but the backend answered without one.",
                provider=provider,
                retryable=True,
            )
        return
    tools = {t.name: t for t in options.tools or []}
    if not tools or options.tool_choice == "none":
        raise ResponseError(
            "The backend called a tool although no tool was offered.", provider=provider, retryable=True
        )
    for call in calls:
        tool = tools.get(call.name)
        if tool is None:
            raise ResponseError(
                f"The backend called an undeclared tool {call.name!r} (declared: {', '.join(sorted(tools))}).",
                provider=provider,
                retryable=True,
            )
        choice = options.tool_choice
        if isinstance(choice, NamedToolChoice) and call.name != choice.name:
            raise ResponseError(
                f"tool_choice required tool {choice.name!r}, the backend called {call.name!r}.",
                provider=provider,
                retryable=True,
            )
        problems = schema_errors(call.arguments, tool.parameters)
        if problems:
            raise ResponseError(
                f"The backend called tool {call.name!r} with arguments that do not match its schema: "
                + "; ".join(problems),
                provider=provider,
                retryable=True,
            )


def check_structured_text(text: str, fmt: ResponseFormat, provider: str) -> None:
    """The reply text is JSON valid against ``fmt``'s schema.

    :raises ResponseError: (retryable) otherwise.
    """
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ResponseError(
            f"response_format asked for JSON, but the reply is not valid JSON ({exc}).",
            provider=provider,
            retryable=True,
        ) from None
    problems = schema_errors(value, fmt.json_schema)
    if problems:
        raise ResponseError(
            "The reply does not match the response_format schema: " + "; ".join(problems),
            provider=provider,
            retryable=True,
        )


def check_result(result: GenerationResult, options: GenerationOptions, provider: str) -> GenerationResult:
    """Apply the response checks to a whole reply (returns it unchanged when valid)."""
    check_tool_calls(result.tool_calls, options, provider)
    problem = _structured_problem(result, options, options.max_tokens, provider)
    if problem is not None:  # a cut-off reply is incomplete JSON, even when a stream already delivered it
        raise problem
    return result


class ToolCallAssembler:
    """Folds streamed :class:`ToolCallDelta`s into complete :class:`ToolCall`s."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._parts: dict[int, dict[str, Any]] = {}

    def feed(self, deltas: Iterable[ToolCallDelta]) -> None:
        for delta in deltas:
            part = self._parts.setdefault(delta.index, {"id": None, "name": None, "arguments": []})
            if delta.id:
                part["id"] = delta.id
            if delta.name:
                part["name"] = (part["name"] or "") + delta.name if part["name"] != delta.name else delta.name
            if delta.arguments:
                part["arguments"].append(delta.arguments)

    def calls(self) -> list[ToolCall]:
        """The complete calls, in index order.

        :raises ResponseError: for a call without a name or with arguments that are not a JSON object.
        """
        out = []
        for index in sorted(self._parts):
            part = self._parts[index]
            if not part["name"]:
                raise ResponseError(
                    f"The backend streamed tool call {index} without a tool name.", provider=self.provider
                )
            arguments = parse_arguments("".join(part["arguments"]), part["name"], self.provider)
            out.append(ToolCall(id=part["id"] or new_call_id(), name=part["name"], arguments=arguments))
        return out


# --------------------------------------------------------------------------- JSON extraction

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text`` (inside a code fence or bare).

    :raises ValueError: if there is none.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        stripped = candidate.strip()
        try:
            return json.loads(stripped)
        except ValueError:
            pass
        for match in re.finditer(r"[\[{]", candidate):
            try:
                value, _ = decoder.raw_decode(candidate, match.start())
            except ValueError:
                continue
            return value
    raise ValueError("no JSON object or array found in the reply")


# --------------------------------------------------------------------------- emulation


def needs_emulation(messages: Sequence[Message], options: GenerationOptions, capabilities: Capabilities) -> bool:
    """Whether a request goes through the emulation layer for this provider."""
    tool_history = any(m.tool_calls or m.role == "tool" for m in messages)
    if capabilities.tools == "emulated" and (options.tools or tool_history):
        return True
    return capabilities.structured_output == "emulated" and options.response_format is not None


def _offered_tools(options: GenerationOptions) -> list[ToolDefinition]:
    tools = list(options.tools or [])
    choice = options.tool_choice
    if choice == "none":
        return []
    if isinstance(choice, NamedToolChoice):
        return [t for t in tools if t.name == choice.name]
    return tools


def reply_schema(options: GenerationOptions) -> dict[str, Any] | None:
    """The JSON schema of an emulated reply: ``{"tool": name, "arguments": {...}}`` for each offered
    tool and, unless a call is required, ``{"answer": ...}`` (the answer is a string, or the
    ``response_format`` schema). None when the reply is free text."""
    tools = _offered_tools(options)
    fmt = options.response_format
    if not tools:
        return fmt.json_schema if fmt is not None else None
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"tool": {"type": "string", "enum": [t.name]}, "arguments": t.parameters},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    if options.tool_choice in (None, "auto"):
        answer = fmt.json_schema if fmt is not None else {"type": "string"}
        branches.append(
            {
                "type": "object",
                "properties": {"answer": answer},
                "required": ["answer"],
                "additionalProperties": False,
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _tools_prompt(options: GenerationOptions) -> str:
    tools = _offered_tools(options)
    lines = ["You can call these tools:"]
    for t in tools:
        lines.append(f"- {t.name}: {t.description or 'no description'}")
        lines.append(f"  arguments (JSON schema): {json.dumps(t.parameters, separators=(',', ':'))}")
    lines.append("")
    lines.append('To call a tool, reply with only this JSON: {"tool": "<tool name>", "arguments": {<arguments>}}')
    if options.tool_choice in (None, "auto"):
        if options.response_format is not None:
            schema = json.dumps(options.response_format.json_schema, separators=(",", ":"))
            lines.append(f'To give the final answer, reply with only {{"answer": <JSON valid against {schema}>}}')
        else:
            lines.append('To give the final answer, reply with only this JSON: {"answer": "<your answer>"}')
        # Measured with SmolLM2-135M on bench/tools_bench.py's 20 tasks: this wording gets more right calls
        # than "Call a tool only when you need its result" (8/20 against 6/20 on the first reply).
        lines.append(
            "If one of the tools can answer the question, call it first. Once tool results answer the question, "
            "give the final answer."
        )
    else:
        lines.append("You must call a tool now.")
    return "\n".join(lines)


def _format_prompt(fmt: ResponseFormat) -> str:
    schema = json.dumps(fmt.json_schema, separators=(",", ":"))
    return "Reply with only a JSON value (no prose, no code fence) that is valid against this JSON schema:\n" + schema


def _render(messages: Sequence[Message], instructions: str | None, *, tools_as_text: bool) -> list[Message]:
    """The conversation with the instructions in the (first) system message; with
    ``tools_as_text``, tool calls and results become plain assistant/user text."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out: list[Message] = []
    for m in messages:
        if tools_as_text and m.role == "tool":
            status = "failed" if m.is_error else "returned"
            text = f"Tool {names.get(m.tool_call_id or '', 'call')!r} {status}: {m.content}"
            out.append(Message.user(text))
        elif tools_as_text and m.tool_calls:
            calls = [{"tool": c.name, "arguments": c.arguments} for c in m.tool_calls]
            rendered = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            out.append(Message.assistant(((m.content + "\n") if m.content else "") + rendered))
        else:
            out.append(m)
    if tools_as_text and messages and messages[-1].role == "tool":
        last = out[-1]
        out[-1] = Message.user(
            last.content + "\nIf these results answer the question, give the final answer now; "
            "call a tool only for something still missing."
        )
    if instructions:
        if out and out[0].role == "system":
            out[0] = Message.system(out[0].content + "\n\n" + instructions)
        else:
            out.insert(0, Message.system(instructions))
    return out


_ANSWER_START = re.compile(r'\s*\{\s*"answer"\s*:\s*"')


def _partial_answer(text: str) -> str | None:
    """The text of ``{"answer": "...`` cut off inside the string (None if ``text`` is not that)."""
    start = _ANSWER_START.match(text)
    if start is None:
        return None
    rest = text[start.end() :]
    for cut in range(len(rest), max(len(rest) - 6, -1), -1):  # drop a half-written escape sequence
        try:
            value = json.loads('"' + rest[:cut] + '"')
        except ValueError:
            continue
        return str(value).strip()
    return None


def _parse_reply(
    text: str, options: GenerationOptions, tools_emulated: bool, provider: str
) -> tuple[str, list[ToolCall]]:
    """Parse an emulated reply into (text, tool calls), or raise ResponseError saying what is wrong."""
    offered = _offered_tools(options) if tools_emulated else []
    fmt = options.response_format
    if not offered:
        if fmt is None:
            return text, []
        try:
            value = extract_json(text)
        except ValueError:
            raise ResponseError("The reply contains no JSON.", provider=provider, retryable=True) from None
        problems = schema_errors(value, fmt.json_schema)
        if problems:
            raise ResponseError("The JSON does not match the schema: " + "; ".join(problems), provider=provider)
        return json.dumps(value, ensure_ascii=False), []
    must_call = options.tool_choice == "required" or isinstance(options.tool_choice, NamedToolChoice)
    try:
        value = extract_json(text)
    except ValueError:
        if must_call or fmt is not None:
            raise ResponseError("The reply contains no JSON tool call.", provider=provider, retryable=True) from None
        partial = _partial_answer(text)
        if partial is not None:  # an answer cut off at max_tokens: its text, not the JSON around it
            return partial, []
        return text.strip(), []  # a plain-text final answer
    items = value if isinstance(value, list) else [value]
    calls: list[ToolCall] = []
    for item in items:
        if not isinstance(item, dict):
            raise ResponseError("Each tool call must be a JSON object.", provider=provider, retryable=True)
        if "answer" in item and not must_call:
            answer = item["answer"]
            if fmt is not None:
                problems = schema_errors(answer, fmt.json_schema)
                if problems:
                    raise ResponseError(
                        "The answer does not match the schema: " + "; ".join(problems), provider=provider
                    )
                return json.dumps(answer, ensure_ascii=False), []
            return (answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)), []
        name = item.get("tool", item.get("name"))
        if not isinstance(name, str):
            if must_call or fmt is not None:
                raise ResponseError('A tool call needs "tool": "<name>".', provider=provider, retryable=True)
            return text.strip(), []  # JSON that is neither a call nor an answer: take it as the answer
        arguments = item.get("arguments", item.get("parameters", {}))
        calls.append(ToolCall(id=new_call_id(), name=name, arguments=parse_arguments(arguments, name, provider)))
    check_tool_calls(calls, options, provider)
    return "", calls


ANSWER_CHOICE = "answer"
"""The choice standing for "no tool, answer now" in :func:`choose_tool` (under ``tool_choice="auto"``)."""


def choose_tool(provider: Provider, messages: Sequence[Message], options: GenerationOptions) -> GenerationOptions:
    """Where the provider constrains a reply to one of a few strings (its :meth:`~hayswitch.Provider._choose`
    hook, e.g. Gradient's choice guidance), the tool of an emulated call is chosen that way first:
    among the offered tools' names (plus :data:`ANSWER_CHOICE` under ``tool_choice="auto"``).
    Returns the options narrowed to the chosen tool (``tool_choice={"name": ...}``), or to
    ``tool_choice="none"`` when the choice is to answer; unchanged when there is nothing to choose
    or the provider cannot."""
    offered = [t.name for t in _offered_tools(options)]
    auto = options.tool_choice in (None, "auto")
    choices = offered + ([ANSWER_CHOICE] if auto and ANSWER_CHOICE not in offered else [])
    if len(offered) < 2 or (not auto and options.tool_choice != "required"):
        return options  # one tool (or a named one): nothing to choose among names
    question = "Reply with only the name of the tool to call"
    question += f", or {ANSWER_CHOICE!r} to answer without a tool." if ANSWER_CHOICE in choices else "."
    rendered = _render(messages, _tools_prompt(options), tools_as_text=True)
    asked = [*rendered, Message.user(question)]
    chosen = provider.retry_policy.call(lambda: provider._choose(asked, options, choices))
    if chosen is None or chosen.strip() not in choices:
        return options
    chosen = chosen.strip()
    if chosen == ANSWER_CHOICE and ANSWER_CHOICE not in offered:
        return options.model_copy(update={"tool_choice": "none"})
    return options.model_copy(update={"tool_choice": NamedToolChoice(name=chosen)})


def _emulated_request(
    messages: Sequence[Message], options: GenerationOptions, capabilities: Capabilities
) -> tuple[list[Message], GenerationOptions, bool]:
    """The messages and options the provider's own hook receives, and whether tools are emulated."""
    tools_emulated = capabilities.tools == "emulated"
    fmt = options.response_format
    if tools_emulated and _offered_tools(options):
        instructions: str | None = _tools_prompt(options)
    elif fmt is not None:
        instructions = _format_prompt(fmt)
    else:
        instructions = None
    rendered = _render(messages, instructions, tools_as_text=tools_emulated)
    update: dict[str, Any] = {"response_format": None}
    if tools_emulated:
        update.update(tools=None, tool_choice=None)
        if capabilities.structured_output == "native":
            # The backend enforces schemas: constrain the reply to the emulation's reply schema.
            schema = reply_schema(options)
            if schema is not None:
                update["response_format"] = (
                    fmt
                    if (fmt is not None and schema is fmt.json_schema)
                    else (ResponseFormat.model_validate({"name": "reply", "schema": schema}))
                )
    return rendered, options.model_copy(update=update), tools_emulated


def _accept(
    result: GenerationResult,
    messages: Sequence[Message],
    options: GenerationOptions,
    tools_emulated: bool,
    provider: str,
) -> GenerationResult:
    if result.tool_calls:  # native tool calls (only structured output is emulated)
        check_tool_calls(result.tool_calls, options, provider)
        return result
    text, calls = _parse_reply(result.text, options, tools_emulated, provider)
    return _finish(result, text, calls)


# --------------------------------------------------------------------------- repeated tool calls


def repeated_call(calls: Sequence[ToolCall], messages: Sequence[Message]) -> ToolCall | None:
    """The first of ``calls`` identical (tool and arguments) to a call already answered since the
    last user message, or None. Repeating such a call cannot help: its result is in the
    conversation (small models loop like this instead of answering)."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    recent = messages[last_user + 1 :]
    answered = {m.tool_call_id for m in recent if m.role == "tool"}
    made = {(c.name, json.dumps(c.arguments, sort_keys=True)) for m in recent for c in m.tool_calls if c.id in answered}
    for call in calls:
        if (call.name, json.dumps(call.arguments, sort_keys=True)) in made:
            return call
    return None


def guards_repeats(provider: Provider, options: GenerationOptions) -> bool:
    """Whether a repeated tool call is replaced by an answer: the request's ``repeated_tool_calls``
    option, else the provider's class default (:attr:`hayswitch.Provider.repeated_tool_calls`)."""
    mode = options.repeated_tool_calls or getattr(provider, "repeated_tool_calls", "allow")
    return mode == "answer"


def _call_text(call: ToolCall) -> str:
    arguments = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in call.arguments.items())
    return f"{call.name}({arguments})"


def answer_messages(messages: Sequence[Message]) -> list[Message]:
    """The conversation rewritten for an answer from tool results, with no tools involved.

    The tool results since the last user message are folded into that message, each as
    ``Tool result of name(arg="value"): <result>``, followed by an instruction to answer the
    question with them; earlier tool calls and results become plain text. Small models that loop
    on a structured tool-call history answer from a result they see next to the question (measured
    with SmolLM2-135M, see docs/agents-and-tools.md)."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    calls = {c.id: c for m in messages for c in m.tool_calls}
    earlier = _render(messages[: last_user + 1], None, tools_as_text=True) if last_user >= 0 else []
    lines = []
    for m in messages[last_user + 1 :]:
        if m.role == "tool":
            call = calls.get(m.tool_call_id or "")
            label = _call_text(call) if call is not None else "a tool"
            lines.append(f"Tool result of {label}{' (failed)' if m.is_error else ''}: {m.content}")
        elif m.role == "system":
            earlier.append(m)
    if not lines:
        return earlier
    results = "\n".join(lines)
    note = "this result" if len(lines) == 1 else "these results"
    question = earlier.pop().content if earlier and earlier[-1].role == "user" else ""
    earlier.append(Message.user(f"{question}\n\n{results}\nAnswer the question using {note}.".lstrip()))
    return earlier


def _answer_options(options: GenerationOptions) -> GenerationOptions:
    return options.model_copy(update={"tools": None, "tool_choice": None})


def _answered(answer: GenerationResult, call: ToolCall) -> GenerationResult:
    meta = {**answer.meta, "repeated_tool_call": {"tool": call.name, "arguments": call.arguments}}
    return answer.model_copy(update={"meta": meta})


def answer_repeated(
    provider: Provider, messages: Sequence[Message], options: GenerationOptions, result: GenerationResult
) -> GenerationResult:
    """``result``, or -- when it repeats an answered tool call and the guard is on (see
    :func:`guards_repeats`) -- a reply generated from :func:`answer_messages` without tools, its
    meta recording the ``repeated_tool_call`` it replaces."""
    call = repeated_call(result.tool_calls, messages) if result.tool_calls else None
    if call is None or not guards_repeats(provider, options):
        return result
    answer = provider.generate(answer_messages(messages), _answer_options(options))
    return _answered(answer, call)


async def aanswer_repeated(
    provider: Provider, messages: Sequence[Message], options: GenerationOptions, result: GenerationResult
) -> GenerationResult:
    """Async twin of :func:`answer_repeated`."""
    call = repeated_call(result.tool_calls, messages) if result.tool_calls else None
    if call is None or not guards_repeats(provider, options):
        return result
    answer = await provider.agenerate(answer_messages(messages), _answer_options(options))
    return _answered(answer, call)


def _feedback(
    messages: list[Message], reply: str, problem: ResponseError, again: str = "the JSON described above"
) -> list[Message]:
    detail = str(problem).removeprefix(f"[{problem.provider}] ") if problem.provider else str(problem)
    return [
        *messages,
        Message.assistant(reply),
        Message.user(f"That reply is invalid: {detail} Reply again with only {again}."),
    ]


_NATIVE_AGAIN = "JSON that matches the required schema, kept short enough to be complete"


def _structured_problem(
    result: GenerationResult, options: GenerationOptions, budget: int | None, provider: str
) -> ResponseError | None:
    """Why a reply to a native ``response_format`` request is not acceptable (None: it is)."""
    fmt = options.response_format
    if result.tool_calls or fmt is None:  # tool calls were checked under the retry policy
        return None
    if result.finish_reason == "length":
        limit = f" ({budget} tokens)" if budget else ""
        return ResponseError(
            f"It was cut off at the max_tokens limit{limit} before its JSON was complete.",
            provider=provider,
            retryable=True,
        )
    try:
        check_structured_text(result.text, fmt, provider)
    except ResponseError as exc:
        return exc
    return None


def _tools_checked(result: GenerationResult, options: GenerationOptions, provider: str) -> GenerationResult:
    check_tool_calls(result.tool_calls, options, provider)
    return result


def _repair_options(
    problem: ResponseError, result: GenerationResult, options: GenerationOptions, original: GenerationOptions
) -> GenerationOptions:
    """The options of the next attempt: after a cut-off, :data:`CUTOFF_GROWTH` times the token budget
    (the used budget when none was set), at most :data:`CUTOFF_MAX_GROWTH` times the original one."""
    if result.finish_reason != "length":
        return options
    used = options.max_tokens or (result.usage.completion_tokens if result.usage else None)
    if not used:
        return options
    ceiling = (original.max_tokens or used) * CUTOFF_MAX_GROWTH
    return options.model_copy(update={"max_tokens": min(used * CUTOFF_GROWTH, max(ceiling, used))})


def structured_generation(
    provider: Provider, messages: Sequence[Message], options: GenerationOptions
) -> GenerationResult:
    """Generate a reply to a ``response_format`` request on a backend that enforces schemas itself
    (``structured_output="native"``), repairing what its enforcement misses.

    Backends' schema-to-grammar converters drop constraints (numeric bounds, lengths) and any reply
    can be cut off at ``max_tokens``. Such a reply is not returned: the next attempt carries the
    validation error as feedback (the emulation layer's wording, so at temperature 0 the retry is a
    different request) and, after a cut-off, a larger token budget. At most
    :data:`EMULATION_ATTEMPTS` attempts.

    :raises ResponseError: (not retryable) if no valid reply came in :data:`EMULATION_ATTEMPTS` tries.
    """
    rendered, inner = list(messages), options
    last: ResponseError | None = None
    for _ in range(EMULATION_ATTEMPTS):
        result = provider.retry_policy.call(
            lambda m=rendered, o=inner: _tools_checked(provider._generate(m, o), options, provider.name)  # type: ignore[misc]
        )
        problem = _structured_problem(result, options, inner.max_tokens, provider.name)
        if problem is None:
            return result
        last = problem
        rendered = _feedback(rendered, result.text, problem, _NATIVE_AGAIN)
        inner = _repair_options(problem, result, inner, options)
    raise _give_up(last, provider.name)


async def astructured_generation(
    provider: Provider, messages: Sequence[Message], options: GenerationOptions
) -> GenerationResult:
    """Async twin of :func:`structured_generation`."""
    rendered, inner = list(messages), options
    last: ResponseError | None = None
    for _ in range(EMULATION_ATTEMPTS):

        async def attempt(m: list[Message] = rendered, o: GenerationOptions = inner) -> GenerationResult:
            return _tools_checked(await provider._agenerate(m, o), options, provider.name)

        result = await provider.retry_policy.acall(attempt)
        problem = _structured_problem(result, options, inner.max_tokens, provider.name)
        if problem is None:
            return result
        last = problem
        rendered = _feedback(rendered, result.text, problem, _NATIVE_AGAIN)
        inner = _repair_options(problem, result, inner, options)
    raise _give_up(last, provider.name)


def emulate_generation(provider: Provider, messages: Sequence[Message], options: GenerationOptions) -> GenerationResult:
    """Generate through the emulation layer (the provider's ``_generate`` under its retry policy).

    :raises ResponseError: (not retryable) if no valid reply came in :data:`EMULATION_ATTEMPTS` tries.
    """
    asked = choose_tool(provider, messages, options) if provider.capabilities.tools == "emulated" else options
    rendered, inner, tools_emulated = _emulated_request(messages, asked, provider.capabilities)
    last: ResponseError | None = None
    for _ in range(EMULATION_ATTEMPTS):
        result = provider.retry_policy.call(lambda m=rendered, o=inner: provider._generate(m, o))  # type: ignore[misc]
        try:
            accepted = _accept(result, messages, asked, tools_emulated, provider.name)
        except ResponseError as exc:
            last = exc
            rendered = _feedback(rendered, result.text, exc)
            continue
        return answer_repeated(provider, messages, options, accepted)
    raise _give_up(last, provider.name)


async def aemulate_generation(
    provider: Provider, messages: Sequence[Message], options: GenerationOptions
) -> GenerationResult:
    """Async twin of :func:`emulate_generation`."""
    asked = (
        await asyncio.to_thread(choose_tool, provider, messages, options)
        if provider.capabilities.tools == "emulated"
        else options
    )
    rendered, inner, tools_emulated = _emulated_request(messages, asked, provider.capabilities)
    last: ResponseError | None = None
    for _ in range(EMULATION_ATTEMPTS):
        result = await provider.retry_policy.acall(lambda m=rendered, o=inner: provider._agenerate(m, o))  # type: ignore[misc]
        try:
            accepted = _accept(result, messages, asked, tools_emulated, provider.name)
        except ResponseError as exc:
            last = exc
            rendered = _feedback(rendered, result.text, exc)
            continue
        return await aanswer_repeated(provider, messages, options, accepted)
    raise _give_up(last, provider.name)


def _finish(result: GenerationResult, text: str, calls: list[ToolCall]) -> GenerationResult:
    meta = {**result.meta, "emulated": True}
    finish = "tool_calls" if calls else result.finish_reason
    return result.model_copy(update={"text": text, "tool_calls": calls, "finish_reason": finish, "meta": meta})


def _give_up(last: ResponseError | None, provider: str) -> ResponseError:
    detail = f" Last problem: {last}" if last else ""
    return ResponseError(
        f"The model gave no valid tool call or structured reply in {EMULATION_ATTEMPTS} attempts.{detail} "
        "A larger model, a simpler schema, a clearer tool description or (for cut-off replies) a larger "
        "max_tokens usually helps.",
        provider=provider,
        retryable=False,
    )


def result_as_chunks(result: GenerationResult) -> list[GenerationChunk]:
    """A whole reply as stream chunks: its text, then one delta per tool call (complete arguments),
    the last chunk carrying finish reason and usage."""
    chunks: list[GenerationChunk] = []
    if result.text:
        chunks.append(GenerationChunk(text=result.text, index=0, model=result.model))
    for i, call in enumerate(result.tool_calls):
        delta = ToolCallDelta(index=i, id=call.id, name=call.name, arguments=json.dumps(call.arguments))
        chunks.append(GenerationChunk(text="", index=len(chunks), model=result.model, tool_calls=[delta]))
    if not chunks:
        chunks.append(GenerationChunk(text="", index=0, model=result.model))
    chunks[-1] = chunks[-1].model_copy(
        update={"finish_reason": result.finish_reason, "usage": result.usage, "meta": dict(result.meta)}
    )
    return chunks
