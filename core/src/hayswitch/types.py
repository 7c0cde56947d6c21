"""Provider-neutral data types of the protocol (no Haystack import here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Capabilities",
    "EmbeddingResult",
    "FinishReason",
    "GenerationChunk",
    "GenerationOptions",
    "GenerationResult",
    "Message",
    "NamedToolChoice",
    "ResponseFormat",
    "Role",
    "Support",
    "TextEmbedding",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolDefinition",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "unknown"]
Support = Literal["native", "emulated"]
"""How a provider supports tools or structured output: by the backend itself (``"native"``) or
through hayswitch's prompt-and-parse layer :mod:`hayswitch.tooling` (``"emulated"``)."""


class ToolCall(BaseModel):
    """A call of a declared tool, requested by the model in an assistant message.

    :param id: the call id that links the tool's result (a ``tool`` message) to this call.
    :param name: the tool's name.
    :param arguments: the arguments, already parsed from JSON (the base class checks them against
        the tool's parameter schema).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolCallDelta(BaseModel):
    """A piece of a tool call in a stream. The first delta of a call carries ``id`` and ``name``;
    ``arguments`` are fragments of the JSON text, concatenated in order per ``index``.

    :param index: which tool call of the reply this piece belongs to (0 for the first call).
    """

    model_config = ConfigDict(extra="forbid")

    index: int = Field(default=0, ge=0)
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


class Message(BaseModel):
    """One chat message.

    * ``system`` / ``user``: text.
    * ``assistant``: text and/or ``tool_calls``.
    * ``tool``: the result of one tool call; ``tool_call_id`` names the call (an id among the
      ``tool_calls`` of an earlier assistant message), ``is_error`` marks a failed tool.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False

    @field_validator("content", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        # OpenAI-style assistant messages with only tool calls have "content": null.
        return "" if value is None else value

    @model_validator(mode="after")
    def _check_role_fields(self) -> Message:
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"only assistant messages carry tool_calls, not {self.role!r} messages")
        if self.role == "tool":
            if not self.tool_call_id:
                raise ValueError("a tool message needs the tool_call_id of the call it answers")
        elif self.tool_call_id is not None or self.is_error:
            raise ValueError("tool_call_id and is_error belong to tool messages only")
        return self

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str = "", tool_calls: Sequence[ToolCall] = ()) -> Message:
        return cls(role="assistant", content=content, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(cls, content: str, tool_call_id: str, *, is_error: bool = False) -> Message:
        """The result of the tool call ``tool_call_id``."""
        return cls(role="tool", content=content, tool_call_id=tool_call_id, is_error=is_error)


_TOOL_NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class ToolDefinition(BaseModel):
    """A tool the model may call: a name, a description and a JSON schema of its parameters.

    :param strict: ask backends that support it to enforce the schema exactly (OpenAI's
        ``strict``); hayswitch checks arguments against the schema either way.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_TOOL_NAME, description="Letters, digits, '_', '-', '.'; at most 64.")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class NamedToolChoice(BaseModel):
    """``tool_choice`` forcing one named tool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class ResponseFormat(BaseModel):
    """Structured output: the reply text is JSON valid against ``schema``.

    Accepts (in :class:`GenerationOptions`) a bare JSON schema, OpenAI's
    ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` form,
    ``{"type": "json_object"}`` / ``"json_object"`` (any JSON object), or a pydantic model class.
    ``"text"`` means no structured output.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type: Literal["json_schema", "json_object"] = "json_schema"
    name: str = Field(default="response", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    description: str | None = None
    strict: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_forms(cls, value: Any) -> Any:
        if isinstance(value, type) and issubclass(value, BaseModel):
            return {"name": value.__name__[:64], "schema": value.model_json_schema()}
        if value == "json_object":
            return {"type": "json_object"}
        if not isinstance(value, Mapping):
            return value
        kind = value.get("type")
        if kind == "json_schema" and isinstance(value.get("json_schema"), Mapping):
            spec = dict(value["json_schema"])
            extra = set(value) - {"type", "json_schema"}
            if extra:
                raise ValueError(f"unknown response_format keys {sorted(extra)}")
            if "schema" not in spec:
                raise ValueError("response_format json_schema needs a 'schema'")
            return {"type": "json_schema", **spec}
        if kind == "json_object" and set(value) == {"type"}:
            return {"type": "json_object"}
        if set(value) & {"schema", "schema_"} and set(value) <= {
            "type",
            "name",
            "schema",
            "schema_",
            "description",
            "strict",
        }:
            value = dict(value)
            if "schema_" in value:  # a model_dump() of this class
                value["schema"] = value.pop("schema_")
            return value
        # A bare JSON schema.
        return {"type": "json_schema", "schema": dict(value)}

    @property
    def json_schema(self) -> dict[str, Any]:
        """The schema the reply must satisfy (``{"type": "object"}`` for ``json_object``)."""
        return self.schema_

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI ``response_format`` request field."""
        if self.type == "json_object":
            return {"type": "json_object"}
        spec: dict[str, Any] = {"name": self.name, "schema": self.schema_}
        if self.description is not None:
            spec["description"] = self.description
        if self.strict is not None:
            spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}


class Usage(BaseModel):
    """Token (or input) counts reported by the backend, when it reports them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            if a is None and b is None:
                return None
            return (a or 0) + (b or 0)

        return Usage(
            prompt_tokens=add(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=add(self.completion_tokens, other.completion_tokens),
            total_tokens=add(self.total_tokens, other.total_tokens),
        )


class EmbeddingResult(BaseModel):
    """Vectors for a list of texts, in input order."""

    model_config = ConfigDict(extra="forbid")

    vectors: list[list[float]]
    model: str
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def dimension(self) -> int | None:
        return len(self.vectors[0]) if self.vectors else None


class TextEmbedding(BaseModel):
    """The vector for a single (query) text."""

    model_config = ConfigDict(extra="forbid")

    vector: list[float]
    model: str
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return len(self.vector)


class GenerationResult(BaseModel):
    """The outcome of :meth:`hayswitch.Provider.generate`."""

    model_config = ConfigDict(extra="forbid")

    text: str
    finish_reason: FinishReason
    model: str
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    tool_calls: list[ToolCall] = Field(default_factory=list)


class GenerationChunk(BaseModel):
    """One piece of a streamed generation. The last chunk carries ``finish_reason`` (and usage
    when the backend reports it)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    index: int = 0
    finish_reason: FinishReason | None = None
    model: str | None = None
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)


class GenerationOptions(BaseModel):
    """Common generation options. Providers subclass it to add their own (and may restrict these
    with validators). Unknown options are refused (``extra="forbid"``), before any request."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(default=None, gt=0, description="Maximum number of generated tokens.")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass.")
    stop: list[str] | None = Field(default=None, description="Stop sequences.")
    seed: int | None = Field(default=None, description="Seed for reproducible sampling, where supported.")
    tools: list[ToolDefinition] | None = Field(default=None, description="Tools the model may call.")
    tool_choice: ToolChoice | None = Field(
        default=None, description="'auto' (default with tools), 'none', 'required', or {'name': tool}."
    )
    response_format: ResponseFormat | None = Field(
        default=None, description="A JSON schema the reply text must satisfy (structured output)."
    )
    repeated_tool_calls: Literal["answer", "allow"] | None = Field(
        default=None,
        description=(
            "When the model would repeat a tool call (same tool, same arguments) whose result is already in the "
            "conversation: 'answer' generates the final answer from the results instead (tools off; the reply's "
            "meta has 'repeated_tool_call'), 'allow' passes the call on. Default: the provider's "
            "repeated_tool_calls."
        ),
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _tool_choice_forms(cls, value: Any) -> Any:
        # OpenAI's {"type": "function", "function": {"name": ...}} and a plain {"name": ...}.
        if (
            isinstance(value, Mapping)
            and value.get("type") == "function"
            and isinstance(value.get("function"), Mapping)
        ):
            return {"name": value["function"].get("name")}
        return value

    @field_validator("response_format", mode="before")
    @classmethod
    def _text_format_is_none(cls, value: Any) -> Any:
        if value == "text" or (isinstance(value, Mapping) and dict(value) == {"type": "text"}):
            return None
        return value


class Capabilities(BaseModel):
    """What a provider can do, declared on the class.

    :param embeddings: supports ``embed_documents`` / ``embed_text``.
    :param generation: supports ``generate``.
    :param streaming: supports ``stream`` (true token streaming).
    :param fine_tuning: implements :class:`hayswitch.FineTuning`.
    :param max_batch_size: most inputs accepted in one embedding request.
    :param embedding_dimension: vector size when known up front (None: depends on the model).
    :param normalized_embeddings: vectors are L2-normalised.
    :param long_text: what happens to text longer than the model's window: ``"truncate"``
        (silently, by the backend) or ``"error"`` (an :class:`~hayswitch.errors.InvalidInputError`).
    :param max_concurrency: default number of concurrent embedding requests.
    :param native_async: async twins use a real async client rather than threads.
    :param deterministic: the same input gives the same output (vectors; text at temperature 0).
    :param tools: tool calling, ``"native"`` (the backend's own), ``"emulated"`` (through
        :mod:`hayswitch.tooling`) or None (unsupported: tools are refused before any request).
    :param structured_output: ``response_format`` JSON schemas, likewise.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    embeddings: bool = False
    generation: bool = False
    streaming: bool = False
    fine_tuning: bool = False
    max_batch_size: int = Field(default=32, gt=0)
    embedding_dimension: int | None = Field(default=None, gt=0)
    normalized_embeddings: bool = False
    long_text: Literal["truncate", "error"] = "truncate"
    max_concurrency: int = Field(default=1, gt=0)
    native_async: bool = False
    deterministic: bool = False
    tools: Support | None = Field(default=None, description="Tool calling: 'native', 'emulated' or None.")
    structured_output: Support | None = Field(
        default=None, description="response_format (JSON schema): 'native', 'emulated' or None."
    )

    def names(self) -> list[str]:
        """The supported features as short names (for tables)."""
        flags = ["embeddings", "generation", "streaming", "fine_tuning"]
        names = [f for f in flags if getattr(self, f)]
        names += [f"{f}({getattr(self, f)})" for f in ("tools", "structured_output") if getattr(self, f)]
        return names
