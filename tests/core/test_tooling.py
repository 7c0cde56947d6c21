"""Tools and structured output in the protocol: types, request checks (nothing is sent), response
checks (invalid arguments are a retryable ResponseError), the emulation layer and the fake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from hayswitch import (
    NO_RETRY,
    Capabilities,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    InvalidInputError,
    Message,
    NamedToolChoice,
    Provider,
    ResponseError,
    ResponseFormat,
    RetryPolicy,
    ToolCall,
    ToolCallDelta,
    UnsupportedOperation,
    Usage,
    tooling,
)
from hayswitch.providers.fake import FakeProvider, schema_instance

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ADD = {
    "name": "add",
    "description": "Add two integers",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 2}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
FAST = RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=0.0, jitter=False)


# --------------------------------------------------------------------------- types


def test_message_roles_and_tool_fields() -> None:
    call = ToolCall(id="c1", name="add", arguments={"a": 1})
    assert Message.assistant(tool_calls=[call]).tool_calls == (call,)
    assert Message.tool("3", "c1").tool_call_id == "c1"
    with pytest.raises(ValueError, match="tool_call_id"):
        Message(role="tool", content="3")
    with pytest.raises(ValueError, match="only assistant"):
        Message(role="user", content="x", tool_calls=(call,))
    with pytest.raises(ValueError, match="tool messages only"):
        Message(role="user", content="x", tool_call_id="c1")


class Point(BaseModel):
    x: int
    y: int


@pytest.mark.parametrize(
    ("value", "name", "kind"),
    [
        (PERSON, "response", "json_schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}},
            "person",
            "json_schema",
        ),
        ({"type": "json_object"}, "response", "json_object"),
        ("json_object", "response", "json_object"),
        (Point, "Point", "json_schema"),
    ],
)
def test_response_format_forms(value: Any, name: str, kind: str) -> None:
    opts = GenerationOptions(response_format=value)
    assert opts.response_format is not None
    assert opts.response_format.name == name
    assert opts.response_format.type == kind
    # A model_dump() of the options validates back to the same format (fallback members do this).
    again = GenerationOptions.model_validate(opts.model_dump(exclude_none=True))
    assert again.response_format == opts.response_format


def test_response_format_text_is_none_and_openai_shape() -> None:
    assert GenerationOptions(response_format="text").response_format is None
    assert GenerationOptions(response_format={"type": "text"}).response_format is None
    fmt = ResponseFormat.model_validate(Point)
    assert fmt.to_openai()["json_schema"]["schema"]["required"] == ["x", "y"]
    assert ResponseFormat.model_validate("json_object").to_openai() == {"type": "json_object"}


def test_tool_choice_forms() -> None:
    assert GenerationOptions(tool_choice={"type": "function", "function": {"name": "add"}}).tool_choice == (
        NamedToolChoice(name="add")
    )
    assert GenerationOptions(tool_choice={"name": "add"}).tool_choice == NamedToolChoice(name="add")
    assert GenerationOptions(tool_choice="required").tool_choice == "required"
    with pytest.raises(ValueError):
        GenerationOptions(tool_choice="sometimes")


# --------------------------------------------------------------------------- request checks


class TextOnly(FakeProvider):
    name: ClassVar[str] = "text-only"
    capabilities: ClassVar[Capabilities] = FakeProvider.capabilities.model_copy(
        update={"tools": None, "structured_output": None}
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tools": [WEATHER, WEATHER]}, "unique"),
        (
            {"tools": [{**WEATHER, "parameters": {"type": "object", "properties": {"a": {"type": "nope"}}}}]},
            "JSON schema",
        ),
        ({"tools": [{**WEATHER, "parameters": {"type": "string"}}]}, "type 'object'"),
        ({"tools": [WEATHER], "tool_choice": {"name": "add"}}, "'add'"),
        ({"tool_choice": "required"}, "needs at least one tool"),
        ({"response_format": {"type": "object", "properties": {"a": {"type": 5}}}}, "response_format"),
        ({"tools": [{**WEATHER, "name": "bad name!"}]}, "tools"),
    ],
)
def test_bad_tool_options_fail_before_any_request(options: dict[str, Any], message: str) -> None:
    provider = FakeProvider()
    with pytest.raises(InvalidInputError, match=message):
        provider.generate("hi", options)
    with pytest.raises(InvalidInputError, match=message):
        list(provider.stream("hi", options))
    assert provider.requests == 0


@pytest.mark.parametrize(
    ("options", "operation"), [({"tools": [WEATHER]}, "tools"), ({"response_format": PERSON}, "response_format")]
)
def test_unsupported_tools_or_format_fail_before_any_request(options: dict[str, Any], operation: str) -> None:
    provider = TextOnly()
    with pytest.raises(UnsupportedOperation, match=operation):
        provider.generate("hi", options)
    assert provider.requests == 0


def test_tool_result_must_answer_an_earlier_call() -> None:
    provider = FakeProvider()
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"})
    history = [Message.user("weather?"), Message.assistant(tool_calls=[call]), Message.tool("rain", "c2")]
    with pytest.raises(InvalidInputError, match=r"'c2'.*no earlier assistant"):
        provider.generate(history, {"tools": [WEATHER]})
    # The result before its call is refused too.
    with pytest.raises(InvalidInputError, match="'c1'"):
        provider.generate([Message.user("x"), Message.tool("rain", "c1"), Message.assistant(tool_calls=[call])])
    assert provider.requests == 0


def test_tool_messages_on_a_provider_without_tools_are_refused() -> None:
    provider = TextOnly()
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"})
    with pytest.raises(UnsupportedOperation):
        provider.generate([Message.user("x"), Message.assistant(tool_calls=[call]), Message.tool("rain", "c1")])
    assert provider.requests == 0


# --------------------------------------------------------------------------- response checks


class Backend(Provider):
    """Returns queued results (or chunk lists) and records what its hooks received."""

    name: ClassVar[str] = "backend"
    capabilities: ClassVar[Capabilities] = Capabilities(
        generation=True, streaming=True, tools="native", structured_output="native"
    )

    def setup(self) -> None:
        self.results: list[GenerationResult] = []
        self.streams: list[list[GenerationChunk]] = []
        self.seen: list[tuple[list[Message], GenerationOptions]] = []

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        self.seen.append((messages, options))
        return self.results.pop(0)

    def _stream(self, messages: list[Message], options: GenerationOptions) -> Iterator[GenerationChunk]:
        self.seen.append((messages, options))
        yield from self.streams.pop(0)


def result(text: str = "", calls: list[ToolCall] | None = None) -> GenerationResult:
    return GenerationResult(
        text=text, finish_reason="tool_calls" if calls else "stop", model="m", tool_calls=calls or []
    )


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (ToolCall(id="c", name="add", arguments={"a": 1}), "'b' is a required property"),
        (ToolCall(id="c", name="add", arguments={"a": 1, "b": "two"}), "not of type 'integer'"),
        (ToolCall(id="c", name="subtract", arguments={}), "undeclared tool 'subtract'"),
    ],
)
def test_invalid_tool_calls_are_retryable_response_errors(call: ToolCall, problem: str) -> None:
    provider = Backend(retry=FAST)
    provider.results = [result(calls=[call]), result(calls=[call]), result(calls=[call])]
    with pytest.raises(ResponseError, match=problem) as excinfo:
        provider.generate("add one and two", {"tools": [ADD]})
    assert excinfo.value.retryable
    assert len(provider.seen) == 3  # retried under the policy


def test_a_retry_can_fix_an_invalid_tool_call() -> None:
    provider = Backend(retry=FAST)
    good = ToolCall(id="c", name="add", arguments={"a": 1, "b": 2})
    provider.results = [result(calls=[ToolCall(id="c", name="add", arguments={})]), result(calls=[good])]
    assert provider.generate("add", {"tools": [ADD]}).tool_calls == [good]


def test_tool_call_without_tools_offered_and_required_call_missing() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.results = [result(calls=[ToolCall(id="c", name="add", arguments={"a": 1, "b": 2})])]
    with pytest.raises(ResponseError, match="no tool was offered"):
        provider.generate("add")
    provider.results = [result("I will not call it")]
    with pytest.raises(ResponseError, match="required a tool call"):
        provider.generate("add", {"tools": [ADD], "tool_choice": "required"})


def test_structured_reply_is_checked_against_the_schema() -> None:
    attempts = tooling.EMULATION_ATTEMPTS
    provider = Backend(retry=NO_RETRY)
    provider.results = [result('{"name": "Al"}')] * attempts
    with pytest.raises(ResponseError, match="'age' is a required property") as excinfo:
        provider.generate("who", {"response_format": PERSON})
    assert not excinfo.value.retryable
    assert len(provider.seen) == attempts
    provider.results = [result("not json")] * attempts
    with pytest.raises(ResponseError, match="not valid JSON"):
        provider.generate("who", {"response_format": PERSON})
    provider.results = [result('{"name": "Al", "age": 3}')]
    assert json.loads(provider.generate("who", {"response_format": PERSON}).text) == {"name": "Al", "age": 3}


BOUNDED = {
    "type": "object",
    "properties": {"stars": {"type": "integer", "minimum": 1, "maximum": 5}, "note": {"type": "string"}},
    "required": ["stars", "note"],
    "additionalProperties": False,
}


def cut(text: str, tokens: int | None = None) -> GenerationResult:
    usage = Usage(completion_tokens=tokens) if tokens else Usage()
    return GenerationResult(text=text, finish_reason="length", model="m", usage=usage)


def test_an_out_of_range_integer_is_fed_back_and_repaired() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.results = [result('{"stars": 7, "note": "great"}'), result('{"stars": 5, "note": "great"}')]
    reply = provider.generate("rate it", {"response_format": BOUNDED, "temperature": 0.0})
    assert json.loads(reply.text) == {"stars": 5, "note": "great"}
    (first, _), (second, options) = provider.seen
    assert [m.role for m in second] == [*(m.role for m in first), "assistant", "user"]
    assert second[-2].content == '{"stars": 7, "note": "great"}'
    feedback = second[-1].content or ""
    assert feedback.startswith("That reply is invalid: ")
    assert "7 is greater than the maximum of 5" in feedback
    assert options.max_tokens is None  # not a cut-off: the budget is unchanged


def test_a_cut_off_reply_is_retried_with_a_larger_budget() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.results = [cut('{"stars": 4, "note": "a long'), result('{"stars": 4, "note": "fine"}')]
    reply = provider.generate("rate it", {"response_format": BOUNDED, "max_tokens": 10})
    assert json.loads(reply.text)["note"] == "fine"
    assert [o.max_tokens for _, o in provider.seen] == [10, 10 * tooling.CUTOFF_GROWTH]
    assert "cut off at the max_tokens limit (10 tokens)" in (provider.seen[1][0][-1].content or "")


def test_a_cut_off_without_max_tokens_grows_the_budget_it_used_and_is_never_returned() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.results = [cut('{"stars": 4, "note": "a', 32), cut('{"stars": 4, "note": "ab', 64), cut('{"s', 128)]
    with pytest.raises(ResponseError, match="cut off") as excinfo:
        provider.generate("rate it", {"response_format": BOUNDED})
    assert not excinfo.value.retryable
    assert [o.max_tokens for _, o in provider.seen] == [None, 64, 128]


def test_the_budget_grows_at_most_to_the_ceiling() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.results = [cut("{", 8)] * tooling.EMULATION_ATTEMPTS
    with pytest.raises(ResponseError):
        provider.generate("rate it", {"response_format": BOUNDED, "max_tokens": 8})
    budgets = [o.max_tokens or 0 for _, o in provider.seen]
    assert budgets == sorted(budgets)
    assert max(budgets) <= 8 * tooling.CUTOFF_MAX_GROWTH


def test_async_structured_repair() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.results = [cut('{"stars": 9', 5), result('{"stars": 9, "note": ""}'), result('{"stars": 1, "note": ""}')]
    reply = asyncio.run(provider.agenerate("rate it", {"response_format": BOUNDED}))
    assert json.loads(reply.text) == {"stars": 1, "note": ""}
    assert [o.max_tokens for _, o in provider.seen] == [None, 10, 10]
    assert "greater than the maximum" in (provider.seen[2][0][-1].content or "")


def test_parse_arguments_rejects_non_json_and_non_objects() -> None:
    assert tooling.parse_arguments('{"a": 1}', "t", "p") == {"a": 1}
    assert tooling.parse_arguments("", "t", "p") == {}
    for raw in ('{"a": ', "[1, 2]"):
        with pytest.raises(ResponseError) as excinfo:
            tooling.parse_arguments(raw, "t", "p")
        assert excinfo.value.retryable


def stream_of(*deltas: ToolCallDelta, text: str = "") -> list[GenerationChunk]:
    chunks = [GenerationChunk(text=text)] if text else []
    chunks += [GenerationChunk(text="", index=i + 1, tool_calls=[d]) for i, d in enumerate(deltas)]
    chunks[-1] = chunks[-1].model_copy(update={"finish_reason": "tool_calls"})
    return chunks


def test_streamed_tool_calls_are_assembled_and_checked() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.streams = [
        stream_of(
            ToolCallDelta(index=0, id="c1", name="add", arguments=""),
            ToolCallDelta(index=0, arguments='{"a": 1, '),
            ToolCallDelta(index=1, id="c2", name="get_weather", arguments='{"city": "Rome"}'),
            ToolCallDelta(index=0, arguments='"b": 2}'),
        )
    ]
    chunks = list(provider.stream("go", {"tools": [ADD, WEATHER]}))
    assembler = tooling.ToolCallAssembler("backend")
    for chunk in chunks:
        assembler.feed(chunk.tool_calls)
    assert assembler.calls() == [
        ToolCall(id="c1", name="add", arguments={"a": 1, "b": 2}),
        ToolCall(id="c2", name="get_weather", arguments={"city": "Rome"}),
    ]
    provider.streams = [stream_of(ToolCallDelta(index=0, id="c1", name="add", arguments='{"a": 1,'))]
    with pytest.raises(ResponseError, match="not valid JSON"):
        list(provider.stream("go", {"tools": [ADD]}))
    provider.streams = [stream_of(ToolCallDelta(index=0, id="c1", name="add", arguments='{"a": 1}'))]
    with pytest.raises(ResponseError, match="'b' is a required property"):
        list(provider.stream("go", {"tools": [ADD]}))


async def test_async_twins_check_tool_calls() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.results = [result(calls=[ToolCall(id="c", name="add", arguments={"a": "x", "b": 1})])]
    with pytest.raises(ResponseError):
        await provider.agenerate("add", {"tools": [ADD]})
    provider.streams = [stream_of(ToolCallDelta(index=0, id="c1", name="nope", arguments="{}"))]
    with pytest.raises(ResponseError, match="undeclared"):
        [c async for c in provider.astream("go", {"tools": [ADD]})]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! ```json\n{"a": [1, 2]}\n``` done', {"a": [1, 2]}),
        ('The answer is {"tool": "add", "arguments": {"a": 1}} ok', {"tool": "add", "arguments": {"a": 1}}),
        ("x [1, 2] y", [1, 2]),
        ('noise {bad} then {"ok": true}', {"ok": True}),
    ],
)
def test_extract_json(text: str, value: Any) -> None:
    assert tooling.extract_json(text) == value


def test_extract_json_without_json() -> None:
    with pytest.raises(ValueError):
        tooling.extract_json("no json here")


# --------------------------------------------------------------------------- emulation


class PromptedModel(Backend):
    """A backend without tools or schemas: the emulation layer drives it through prompts."""

    name: ClassVar[str] = "prompted"
    capabilities: ClassVar[Capabilities] = Capabilities(
        generation=True, streaming=False, tools="emulated", structured_output="emulated"
    )


class GrammarModel(Backend):
    """Emulated tools on a backend that enforces JSON schemas (as the local provider does)."""

    name: ClassVar[str] = "grammar"
    capabilities: ClassVar[Capabilities] = Capabilities(
        generation=True, streaming=True, tools="emulated", structured_output="native"
    )


def test_emulated_tool_call_prompt_and_parse() -> None:
    provider = PromptedModel(retry=NO_RETRY)
    provider.results = [result('I will call it: {"tool": "get_weather", "arguments": {"city": "Lima"}}')]
    reply = provider.generate(
        [Message.system("Be brief."), Message.user("Weather in Lima?")], {"tools": [WEATHER, ADD]}
    )
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", {"city": "Lima"})]
    assert reply.finish_reason == "tool_calls"
    assert reply.meta["emulated"] is True
    messages, options = provider.seen[0]
    assert options.tools is None
    assert options.response_format is None  # nothing the backend cannot take
    assert messages[0].role == "system"
    assert messages[0].content.startswith("Be brief.")
    assert "get_weather" in messages[0].content
    assert '"city"' in messages[0].content


def test_emulated_history_is_rendered_as_text_and_answer_is_parsed() -> None:
    provider = PromptedModel(retry=NO_RETRY)
    provider.results = [result('{"answer": "It rains in Lima."}')]
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Lima"})
    history = [Message.user("Weather in Lima?"), Message.assistant(tool_calls=[call]), Message.tool("rain", "c1")]
    reply = provider.generate(history, {"tools": [WEATHER]})
    assert reply.text == "It rains in Lima."
    assert reply.tool_calls == []
    messages, _ = provider.seen[0]
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2].content) == {"tool": "get_weather", "arguments": {"city": "Lima"}}
    assert messages[3].content.startswith("Tool 'get_weather' returned: rain\n")
    assert "final answer" in messages[3].content  # the last result reminds the model to answer


def test_emulated_plain_text_is_an_answer_under_auto() -> None:
    provider = PromptedModel(retry=NO_RETRY)
    provider.results = [result("Just an answer.")]
    assert provider.generate("hi", {"tools": [WEATHER]}).text == "Just an answer."


def test_emulation_feeds_back_invalid_output_then_succeeds() -> None:
    provider = PromptedModel(retry=NO_RETRY)
    provider.results = [
        result('{"tool": "add", "arguments": {"a": 1}}'),
        result('{"tool": "add", "arguments": {"a": 1, "b": 2}}'),
    ]
    reply = provider.generate("add 1 and 2", {"tools": [ADD], "tool_choice": "required"})
    assert reply.tool_calls[0].arguments == {"a": 1, "b": 2}
    second, _ = provider.seen[1]
    assert second[-2].role == "assistant"
    assert "'b' is a required property" in second[-1].content


LIMA_HISTORY = [
    Message.system("Be brief."),
    Message.user("Weather in Lima?"),
    Message.assistant(tool_calls=[ToolCall(id="c1", name="get_weather", arguments={"city": "Lima"})]),
    Message.tool("rain, 18 C", "c1"),
]


class GuardedGrammarModel(GrammarModel):
    repeated_tool_calls: ClassVar[Any] = "answer"


class GuardedBackend(Backend):
    repeated_tool_calls: ClassVar[Any] = "answer"


def test_answer_messages_fold_the_results_into_the_question() -> None:
    messages = tooling.answer_messages(LIMA_HISTORY)
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == "Be brief."
    assert messages[1].content == (
        'Weather in Lima?\n\nTool result of get_weather(city="Lima"): rain, 18 C\n'
        "Answer the question using this result."
    )
    assert all(not m.tool_calls for m in messages)


def test_answer_messages_keep_earlier_turns_as_text() -> None:
    call = ToolCall(id="c0", name="add", arguments={"a": 1, "b": 2})
    history = [
        Message.user("Add 1 and 2."),
        Message.assistant(tool_calls=[call]),
        Message.tool("3", "c0"),
        Message.assistant("3"),
        *LIMA_HISTORY[1:],
        Message.assistant(tool_calls=[ToolCall(id="c2", name="add", arguments={"a": 2, "b": 2})]),
        Message.tool("boom", "c2", is_error=True),
    ]
    messages = tooling.answer_messages(history)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert "Tool 'add' returned: 3" in messages[2].content
    assert messages[-1].content.endswith(
        'Tool result of get_weather(city="Lima"): rain, 18 C\n'
        "Tool result of add(a=2, b=2) (failed): boom\nAnswer the question using these results."
    )


def test_a_repeated_emulated_call_becomes_an_answer_from_the_result() -> None:
    provider = GuardedGrammarModel(retry=NO_RETRY)
    provider.results = [
        result('{"tool": "get_weather", "arguments": {"city": "Lima"}}'),  # the same call again
        result("It rains in Lima, 18 C."),
    ]
    reply = provider.generate(LIMA_HISTORY, {"tools": [WEATHER, ADD]})
    assert reply.text == "It rains in Lima, 18 C."
    assert reply.tool_calls == []
    assert reply.meta["repeated_tool_call"] == {"tool": "get_weather", "arguments": {"city": "Lima"}}
    (_, first), (second_messages, second) = provider.seen
    assert first.response_format is not None  # the tool-call grammar
    assert second.tools is None
    assert second.response_format is None  # a free-text answer: no tools, no grammar
    assert second_messages == tooling.answer_messages(LIMA_HISTORY)


def test_a_new_call_after_a_result_is_passed_on() -> None:
    provider = GuardedGrammarModel(retry=NO_RETRY)
    provider.results = [result('{"tool": "get_weather", "arguments": {"city": "Quito"}}')]
    reply = provider.generate(LIMA_HISTORY, {"tools": [WEATHER]})
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", {"city": "Quito"})]
    assert len(provider.seen) == 1


def test_a_repeated_native_call_becomes_an_answer_unless_allowed() -> None:
    again = ToolCall(id="c9", name="get_weather", arguments={"city": "Lima"})
    provider = GuardedBackend(retry=NO_RETRY)
    provider.results = [result(calls=[again]), result("Rain, 18 C.")]
    reply = provider.generate(LIMA_HISTORY, {"tools": [WEATHER]})
    assert reply.text == "Rain, 18 C."
    assert reply.meta["repeated_tool_call"]["tool"] == "get_weather"
    second_messages, second = provider.seen[1]
    assert second.tools is None
    assert second.tool_choice is None
    assert "Tool result of get_weather" in second_messages[-1].content
    # Per request: "allow" passes the repeat on.
    provider.results = [result(calls=[again])]
    allowed = provider.generate(LIMA_HISTORY, {"tools": [WEATHER], "repeated_tool_calls": "allow"})
    assert allowed.tool_calls == [again]


def test_the_guard_is_opt_in_for_providers() -> None:
    again = ToolCall(id="c9", name="get_weather", arguments={"city": "Lima"})
    provider = Backend(retry=NO_RETRY)  # class default "allow"
    provider.results = [result(calls=[again])]
    assert provider.generate(LIMA_HISTORY, {"tools": [WEATHER]}).tool_calls == [again]
    provider.results = [result(calls=[again]), result("Rain.")]
    assert provider.generate(LIMA_HISTORY, {"tools": [WEATHER], "repeated_tool_calls": "answer"}).text == "Rain."
    with pytest.raises(InvalidInputError, match="repeated_tool_calls"):
        provider.generate(LIMA_HISTORY, {"tools": [WEATHER], "repeated_tool_calls": "sometimes"})


async def test_the_guard_in_async_twins() -> None:
    again = ToolCall(id="c9", name="get_weather", arguments={"city": "Lima"})
    native = GuardedBackend(retry=NO_RETRY)
    native.results = [result(calls=[again]), result("Rain.")]
    assert (await native.agenerate(LIMA_HISTORY, {"tools": [WEATHER]})).text == "Rain."
    emulated = GuardedGrammarModel(retry=NO_RETRY)
    emulated.results = [result('{"tool": "get_weather", "arguments": {"city": "Lima"}}'), result("Rain.")]
    reply = await emulated.agenerate(LIMA_HISTORY, {"tools": [WEATHER]})
    assert reply.text == "Rain."
    assert reply.meta["repeated_tool_call"]["arguments"] == {"city": "Lima"}


def test_emulation_gives_up_after_bounded_attempts() -> None:
    provider = PromptedModel(retry=NO_RETRY)
    provider.results = [result("no json") for _ in range(tooling.EMULATION_ATTEMPTS)]
    with pytest.raises(ResponseError, match=f"{tooling.EMULATION_ATTEMPTS} attempts") as excinfo:
        provider.generate("add", {"tools": [ADD], "tool_choice": {"name": "add"}})
    assert not excinfo.value.retryable
    assert len(provider.seen) == tooling.EMULATION_ATTEMPTS


def test_emulated_structured_output_extracts_and_validates_json() -> None:
    provider = PromptedModel(retry=NO_RETRY)
    provider.results = [result('```json\n{"name": "A", "age": 1}\n```'), result('Here: {"name": "Ann", "age": 40}')]
    reply = provider.generate("who", {"response_format": PERSON})
    assert json.loads(reply.text) == {"name": "Ann", "age": 40}  # the first was invalid (minLength)
    assert "JSON schema" in provider.seen[0][0][0].content


def test_emulated_tools_on_a_schema_enforcing_backend_are_constrained() -> None:
    provider = GrammarModel(retry=NO_RETRY)
    provider.results = [result('{"tool": "add", "arguments": {"a": 1, "b": 2}}')]
    provider.generate("add", {"tools": [ADD, WEATHER]})
    _, options = provider.seen[0]
    assert options.response_format is not None
    schema = options.response_format.json_schema
    branches = schema["anyOf"]
    assert [b["properties"]["tool"]["enum"] for b in branches[:2]] == [["add"], ["get_weather"]]
    assert branches[0]["properties"]["arguments"] == ADD["parameters"]
    # The answer branch exists under tool_choice "auto", not under "required".
    assert list(branches[2]["properties"]) == ["answer"]
    required = tooling.reply_schema(GenerationOptions(tools=[ADD], tool_choice="required"))
    assert required is not None
    assert "answer" not in json.dumps(required)


def test_emulated_streaming_delivers_tool_call_deltas() -> None:
    provider = GrammarModel(retry=NO_RETRY)
    provider.results = [result('{"tool": "get_weather", "arguments": {"city": "Kyiv"}}')]
    chunks = list(provider.stream("weather", {"tools": [WEATHER]}))
    assert chunks[-1].finish_reason == "tool_calls"
    delta = chunks[-1].tool_calls[0]
    assert delta.name == "get_weather"
    assert json.loads(delta.arguments or "") == {"city": "Kyiv"}


# --------------------------------------------------------------------------- the fake provider


def test_fake_picks_the_relevant_tool_and_answers_with_its_result() -> None:
    provider = FakeProvider()
    first = provider.generate("What is the weather in Paris?", {"tools": [ADD, WEATHER]})
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("get_weather", {"city": "Paris"})]
    history = [
        Message.user("What is the weather in Paris?"),
        Message.assistant(tool_calls=first.tool_calls),
        Message.tool("sunny", first.tool_calls[0].id),
    ]
    final = provider.generate(history, {"tools": [ADD, WEATHER]})
    assert final.tool_calls == []
    assert final.text.endswith("get_weather: sunny")
    adding = provider.generate("Please add 3 and 4", {"tools": [ADD, WEATHER]})
    assert adding.tool_calls[0].arguments == {"a": 3, "b": 4}


def test_fake_script_is_followed_turn_by_turn() -> None:
    script = [
        {"tool_calls": [{"name": "add", "arguments": {"a": 40, "b": 2}}]},
        {"text": "The sum is 42."},
    ]
    provider = FakeProvider({"script": script})
    first = provider.generate("sum?", {"tools": [ADD]})
    assert first.tool_calls == [ToolCall(id="call_0_0", name="add", arguments={"a": 40, "b": 2})]
    history = [Message.user("sum?"), Message.assistant(tool_calls=first.tool_calls), Message.tool("42", "call_0_0")]
    assert provider.generate(history, {"tools": [ADD]}).text == "The sum is 42."


def test_fake_streams_tool_calls_as_openai_style_deltas() -> None:
    chunks = list(FakeProvider().stream("add 1 and 2", {"tools": [ADD]}))
    assert chunks[0].tool_calls[0].name == "add"
    assert chunks[0].tool_calls[0].id
    assert all(c.tool_calls[0].name is None for c in chunks[1:])
    assert chunks[-1].finish_reason == "tool_calls"
    assert json.loads("".join(c.tool_calls[0].arguments or "" for c in chunks)) == {"a": 1, "b": 2}


def test_fake_structured_output_is_schema_valid_for_pydantic_schemas() -> None:
    class Address(BaseModel):
        street: str
        zip_code: str

    class Customer(BaseModel):
        name: str
        age: int
        tags: list[str]
        address: Address
        tier: int | None = None

    reply = FakeProvider().generate("Describe customer Ada aged 36", {"response_format": Customer})
    value = Customer.model_validate_json(reply.text)  # raises if not schema-valid
    assert value.age == 36
    assert value.tags


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 5}}},
        {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2},
        {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 12}]},
        {"type": "object", "properties": {"d": {"type": "string", "format": "date"}, "c": {"const": 3}}},
        {"type": ["null", "number"], "exclusiveMinimum": 100},
    ],
)
def test_schema_instance_is_valid(schema: dict[str, Any]) -> None:
    instance = schema_instance(schema, ["word"], [])
    assert tooling.schema_errors(instance, schema) == []


def test_a_streamed_structured_reply_cut_off_is_an_error_at_its_end() -> None:
    provider = Backend(retry=NO_RETRY)
    provider.streams = [[GenerationChunk(text='{"stars": 4, "no'), GenerationChunk(text="", finish_reason="length")]]
    with pytest.raises(ResponseError, match="cut off at the max_tokens limit"):
        list(provider.stream("rate it", {"response_format": BOUNDED}))


def test_an_emulated_answer_cut_off_at_max_tokens_is_its_text() -> None:
    provider = GrammarModel(retry=NO_RETRY)
    cut = GenerationResult(text='{ "answer": "It rains in Lima, and \\u00e', finish_reason="length", model="m")
    provider.results = [cut]
    reply = provider.generate("Weather in Lima?", {"tools": [WEATHER]})
    assert reply.text == "It rains in Lima, and"
    assert reply.finish_reason == "length"
    assert reply.tool_calls == []


def test_grammar_schema_bounds_generation_without_loosening_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "big": {"type": "integer", "minimum": 0, "maximum": 10_000},
            "even": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 7, "multipleOf": 2},
            "name": {"type": "string", "minLength": 2},
            "code": {"type": "string", "maxLength": 3},
            "when": {"type": "string", "format": "date"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "steps": {"type": "array", "items": {"type": "string"}, "minItems": 12},
            "type": {"type": "array", "items": {"type": "integer"}},
        },
    }
    out = tooling.grammar_schema(schema, max_length=50, max_items=4)
    props = out["properties"]
    assert props["score"] == {"enum": [1, 2, 3, 4, 5]}
    assert props["big"] == schema["properties"]["big"]  # too wide for an enum
    assert props["even"] == {"enum": [2, 4, 6]}
    assert props["name"] == {"type": "string", "minLength": 2, "maxLength": 50}
    assert props["code"] == {"type": "string", "maxLength": 3}  # its own bound is kept
    assert props["when"] == schema["properties"]["when"]
    assert props["kind"] == schema["properties"]["kind"]
    assert props["steps"]["maxItems"] == 12  # never below minItems
    assert props["type"]["maxItems"] == 4  # a property named "type" is a property
    assert tooling.grammar_schema(schema) == {
        **schema,
        "properties": {**schema["properties"], **{k: props[k] for k in ("score", "even")}},
    }
    plain = tooling.grammar_schema(schema, max_length=50, plain_strings=True)["properties"]
    assert plain["name"] == {"type": "string", "pattern": '^[^"\\\\\\x00-\\x1f]{2,50}$'}
    assert plain["code"]["pattern"].endswith("{0,3}$")
    assert tooling.grammar_schema({"type": "string"}, plain_strings=True)["pattern"].endswith("]*$")
    # Every value valid under the rewritten schema is valid under the original one.
    value = {"score": 3, "even": 4, "name": "Ann", "code": "ab", "steps": ["x"] * 12, "type": [1]}
    assert tooling.schema_errors(value, out) == tooling.schema_errors(value, schema) == []


class ChoosingModel(PromptedModel):
    """An emulated-tools backend with choice guidance (as Gradient has)."""

    chosen = "add"

    def _choose(self, messages: list[Message], options: GenerationOptions, choices: list[str]) -> str | None:
        self.choices = choices
        return self.chosen


def test_choice_guidance_narrows_the_emulated_call_to_the_chosen_tool() -> None:
    provider = ChoosingModel(retry=NO_RETRY)
    provider.results = [result('{"tool": "add", "arguments": {"a": 1, "b": 2}}')]
    reply = provider.generate("add 1 and 2", {"tools": [WEATHER, ADD]})
    assert provider.choices == ["get_weather", "add", tooling.ANSWER_CHOICE]
    assert [c.name for c in reply.tool_calls] == ["add"]
    system = provider.seen[0][0][0].content
    assert "- add:" in system
    assert "- get_weather:" not in system
    # "answer": no tool is offered to the reply, which is the plain-text answer.
    provider.chosen = tooling.ANSWER_CHOICE
    provider.results = [result("Three.")]
    assert provider.generate("add 1 and 2", {"tools": [WEATHER, ADD]}).text == "Three."
    assert "You can call these tools" not in provider.seen[1][0][0].content
    # required: names only; one tool: nothing to choose; an unknown reply: unchanged options.
    provider.chosen = "nope"
    provider.results = [result('{"tool": "get_weather", "arguments": {"city": "Rome"}}')]
    provider.generate("x", {"tools": [WEATHER, ADD], "tool_choice": "required"})
    assert provider.choices == ["get_weather", "add"]
    assert "- add:" in provider.seen[2][0][0].content
    provider.choices = []
    provider.results = [result('{"tool": "get_weather", "arguments": {"city": "Rome"}}')]
    provider.generate("x", {"tools": [WEATHER]})
    assert provider.choices == []
