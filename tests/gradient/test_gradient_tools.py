"""Tools and structured output on ``gradient``, which has neither: the provider declares both
``"emulated"`` and gets them from the one emulation layer in core (:mod:`hayswitch.tooling`), with
no tool code of its own. Against the Gradient emulator over HTTP.

The emulator's base model only restates the last line of its query, so it cannot follow the tool
instructions; an adapter fine-tuned on "<the exact emulated query> + <the reply a model following
the instructions gives>" continues that query with that reply (the emulator's fine-tuning
semantics). That exercises the whole emulated path: the tool instructions rendered into the
flattened query, the JSON reply parsed and checked against the tool's schema, the tool result fed
back as text, the final answer; and, with the base model, the bounded retry on invalid replies.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from gradient_emulator import EmulatorServer
from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool
from tool_specs import ADD, WEATHER

import hayswitch
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator
from hayswitch import NO_RETRY, Message, Provider, ResponseError, ToolCall
from hayswitch.tooling import EMULATION_ATTEMPTS, schema_errors
from hayswitch_gradient import GradientProvider

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}
QUESTION = "What is the weather in Paris?"


def _provider(**settings: Any) -> Provider:
    target = settings if "model_adapter_id" in settings else {"base_model_slug": "nous-hermes2", **settings}
    return hayswitch.get_provider("gradient", retry=NO_RETRY, **target)


def _query(messages: list[Message], options: dict[str, Any]) -> str:
    """The exact query the emulation layer sends for this request (the base model's reply is
    plain text, accepted as a final answer with ``tool_choice="auto"``; its meta has the query)."""
    provider = _provider()
    try:
        result = provider.generate(messages, options)
    finally:
        provider.close()
    assert result.meta["emulated"] is True
    return str(result.meta["query"])


def _adapter(samples: list[str]) -> str:
    tuner = _provider()
    try:
        adapter = tuner.create_adapter(base_model="nous-hermes2", name="tool-follower")  # type: ignore[attr-defined]
        tuner.fine_tune(adapter.id, samples, progress_bar=False)  # type: ignore[attr-defined]
    finally:
        tuner.close()
    return str(adapter.id)


def test_gradient_declares_tools_and_structured_output_emulated() -> None:
    caps = GradientProvider.capabilities
    assert caps.tools == "emulated"
    assert caps.structured_output == "emulated"
    assert "tool" not in GradientProvider._generate.__code__.co_names  # no tool code of its own


def test_emulated_tool_call_and_final_answer_over_http(live_emulator: EmulatorServer) -> None:
    options = {"tools": [WEATHER]}
    first = [Message.user(QUESTION)]
    query1 = _query(first, options)
    assert "You can call these tools:" in query1
    assert '"city"' in query1  # the schema is in the prompt
    call_reply = ' {"tool": "get_weather", "arguments": {"city": "Paris"}}'

    provider = _provider(model_adapter_id=_adapter([query1 + call_reply]))
    try:
        result = provider.generate(first, options)
        assert result.meta["emulated"] is True
        assert result.finish_reason == "tool_calls"
        (call,) = result.tool_calls
        assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
        assert call.id

        second = [*first, Message.assistant(tool_calls=[call]), Message.tool("sunny, 24 C", call.id)]
        query2 = _query(second, options)
        assert "Tool 'get_weather' returned: sunny, 24 C" in query2
    finally:
        provider.close()

    answer = ' {"answer": "It is sunny in Paris, 24 C."}'
    provider = _provider(model_adapter_id=_adapter([query1 + call_reply, query2 + answer]))
    try:
        final = provider.generate(second, options)
    finally:
        provider.close()
    assert final.tool_calls == []
    assert final.text == "It is sunny in Paris, 24 C."


def test_emulated_structured_output_is_schema_valid(live_emulator: EmulatorServer) -> None:
    options = {"response_format": PERSON}
    messages = [Message.user("Ada Lovelace was 36.")]
    query = _query_structured(messages, options)
    provider = _provider(model_adapter_id=_adapter([query + ' Sure: {"name": "Ada Lovelace", "age": 36}']))
    try:
        result = provider.generate(messages, options)
    finally:
        provider.close()
    assert json.loads(result.text) == {"name": "Ada Lovelace", "age": 36}
    assert schema_errors(json.loads(result.text), PERSON) == []


def _query_structured(messages: list[Message], options: dict[str, Any]) -> str:
    """The query of a structured-output request: the base model's reply has no JSON, so every
    attempt fails; the first attempt's query is the emulator's first recorded completion."""
    captured: list[str] = []
    provider = _provider()
    inner = provider._generate

    def spy(msgs: list[Message], opts: Any) -> Any:
        result = inner(msgs, opts)
        captured.append(str(result.meta["query"]))
        return result

    provider._generate = spy  # type: ignore[method-assign]
    try:
        with pytest.raises(ResponseError):
            provider.generate(messages, options)
    finally:
        provider.close()
    assert "valid against this JSON schema" in captured[0]
    return captured[0]


def test_invalid_replies_are_retried_a_bounded_number_of_times(live_emulator: EmulatorServer) -> None:
    provider = _provider()
    sent: list[list[Message]] = []
    inner = provider._generate

    def spy(msgs: list[Message], opts: Any) -> Any:
        sent.append(list(msgs))
        return inner(msgs, opts)

    provider._generate = spy  # type: ignore[method-assign]
    try:
        with pytest.raises(ResponseError) as excinfo:
            provider.generate(QUESTION, {"tools": [WEATHER], "tool_choice": "required"})
    finally:
        provider.close()
    assert not excinfo.value.retryable
    assert f"in {EMULATION_ATTEMPTS} attempts" in str(excinfo.value)
    assert len(sent) == EMULATION_ATTEMPTS
    # each retry tells the model what was wrong with its previous reply
    assert "That reply is invalid" in sent[1][-1].content


def test_haystack_agent_on_gradient_through_the_emulation(live_emulator: EmulatorServer) -> None:
    """A Haystack Agent with ProviderChatGenerator(provider="gradient"): the emulated tool call is
    executed by the Agent's ToolInvoker and the final answer is built from its result."""

    def get_weather(city: str) -> str:
        return {"paris": "sunny, 24 C"}.get(city.lower(), "unknown")

    tool = Tool(function=get_weather, **WEATHER)  # type: ignore[arg-type]
    options = {"tools": [WEATHER]}
    first = [Message.user(QUESTION)]
    query1 = _query(first, options)
    call = ToolCall(id="any", name="get_weather", arguments={"city": "Paris"})
    second = [*first, Message.assistant(tool_calls=[call]), Message.tool("sunny, 24 C", call.id)]
    query2 = _query(second, options)  # call ids are not part of the emulated prompt
    adapter = _adapter(
        [
            query1 + ' {"tool": "get_weather", "arguments": {"city": "Paris"}}',
            query2 + ' {"answer": "Paris: sunny, 24 C."}',
        ]
    )
    agent = Agent(
        chat_generator=ProviderChatGenerator(provider="gradient", settings={"model_adapter_id": adapter}),
        tools=[tool],
        max_agent_steps=3,
    )
    agent.warm_up()
    result = agent.run([ChatMessage.from_user(QUESTION)])
    messages = result["messages"]
    assert [m.role.value for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls[0].arguments == {"city": "Paris"}
    assert messages[2].tool_call_result.result == "sunny, 24 C"
    assert result["last_message"].text == "Paris: sunny, 24 C."
    assert result["last_message"].meta["provider"] == "gradient"


def _spied(provider: Provider) -> list[tuple[list[Message], Any]]:
    sent: list[tuple[list[Message], Any]] = []
    inner = provider._generate

    def spy(msgs: list[Message], opts: Any) -> Any:
        result = inner(msgs, opts)
        sent.append((list(msgs), opts, result.text))
        return result

    provider._generate = spy  # type: ignore[method-assign]
    return sent  # type: ignore[return-value]


@pytest.mark.parametrize("tool_choice", ["required", "auto"])
def test_choice_guidance_picks_the_tool_among_names(live_emulator: EmulatorServer, tool_choice: str) -> None:
    """With several tools, the tool of an emulated call is chosen first with Gradient's choice
    guidance (the reply is one of the names, plus "answer" under auto); the call itself is then
    asked of that tool only."""
    provider = _provider()
    sent = _spied(provider)
    try:
        try:
            provider.generate(QUESTION, {"tools": [WEATHER, ADD], "tool_choice": tool_choice})
        except ResponseError:
            pass  # the emulator's base model cannot write the call's JSON; the request shape is what counts
    finally:
        provider.close()
    (choice_messages, choice_options, chosen), (call_messages, _, _) = sent[0], sent[1]
    expected = ["get_weather", "add"] + (["answer"] if tool_choice == "auto" else [])
    assert choice_options.guidance == expected
    assert chosen in expected
    assert "Reply with only the name of the tool to call" in choice_messages[-1].content
    system = call_messages[0].content
    if chosen == "answer":
        assert "You can call these tools" not in system  # answering: no tool instructions
    else:
        assert f"- {chosen}:" in system
        assert "You must call a tool now." in system
        other = {"get_weather", "add"} - {chosen}
        assert f"- {other.pop()}:" not in system


def test_choice_guidance_is_skipped_when_off_or_unsupported(live_emulator: EmulatorServer) -> None:
    for settings in ({"tool_choice_guidance": False}, {"base_model_slug": "bloom-560m"}):
        provider = _provider(**settings)
        sent = _spied(provider)
        try:
            result = provider.generate(QUESTION, {"tools": [WEATHER, ADD]})
        finally:
            provider.close()
        assert result.meta["emulated"] is True  # the plain emulated request, answered in text
        assert all(getattr(opts, "guidance", None) is None for _, opts, _ in sent[-1:])
        assert "- get_weather:" in sent[-1][0][0].content
        assert "- add:" in sent[-1][0][0].content
