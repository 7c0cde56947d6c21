"""Structured output and tools on the ``local`` provider with the real 135M model: the JSON schema
becomes a llama.cpp grammar, so replies are valid by construction, and the emulated tool calls are
constrained by the same grammar to well-formed calls of declared tools."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from tool_specs import ADD, WEATHER

from hayswitch import InvalidInputError, Message, Provider, ResponseError, ToolCall
from hayswitch.tooling import schema_errors

pytestmark = pytest.mark.slow

AGENTS = Path(__file__).resolve().parents[2] / "examples" / "agents"
SHORT = {"max_tokens": 96, "temperature": 0.0}


class Item(BaseModel):
    name: str
    qty: int


class Order(BaseModel):
    customer: str
    urgent: bool
    items: list[Item]


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
        },
        {
            "type": "object",
            "properties": {
                "mood": {"enum": ["happy", "sad"]},
                "score": {"type": "integer", "minimum": 1, "maximum": 5},
            },
            "required": ["mood", "score"],
        },
        Order.model_json_schema(),
    ],
)
def test_structured_output_is_valid_by_construction(local_provider: Provider, schema: dict[str, Any]) -> None:
    result = local_provider.generate(
        "Answer with the requested data about a customer order in Paris.", {**SHORT, "response_format": schema}
    )
    assert result.finish_reason == "stop"
    assert schema_errors(json.loads(result.text), schema) == []


STEPS = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "steps": {"type": "array", "items": {"type": "string"}}},
    "required": ["title", "steps"],
}
NOTE = {
    "type": "object",
    "properties": {"topic": {"type": "string"}, "summary": {"type": "string"}},
    "required": ["topic", "summary"],
}


def spy_budgets(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    budgets: list[int | None] = []
    hook = provider._generate

    def spy(messages: list[Message], options: Any) -> Any:
        budgets.append(options.max_tokens)
        return hook(messages, options)

    monkeypatch.setattr(provider, "_generate", spy)
    return budgets


def test_a_reply_cut_off_at_max_tokens_is_retried_with_a_larger_budget(
    local_provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = spy_budgets(local_provider, monkeypatch)
    # 12 tokens cannot hold this reply: the first one is cut off inside the JSON.
    options = {"max_tokens": 12, "temperature": 0.0, "response_format": STEPS}
    result = local_provider.generate("How to tie a shoe.", options)
    assert budgets[:2] == [12, 24]
    assert result.finish_reason == "stop"
    assert schema_errors(json.loads(result.text), STEPS) == []


def test_structured_output_is_never_cut_off_json(local_provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    # The 135M model writes long summaries: whatever happens, no invalid JSON comes back.
    budgets = spy_budgets(local_provider, monkeypatch)
    options = {"max_tokens": 12, "temperature": 0.0, "response_format": NOTE}
    try:
        text: str | None = local_provider.generate("Summarise a news day.", options).text
        problem = ""
    except ResponseError as exc:
        text, problem = None, str(exc)
    if text is None:
        assert "cut off at the max_tokens limit (48 tokens)" in problem
        assert budgets == [12, 24, 48]
    else:
        assert schema_errors(json.loads(text), NOTE) == []


def test_stream_with_response_format_is_valid_json(local_provider: Provider) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"]}
    chunks = list(local_provider.stream("Is Paris in France?", {**SHORT, "response_format": schema}))
    assert len(chunks) > 2  # true token streaming, still constrained
    assert isinstance(json.loads("".join(c.text for c in chunks))["answer"], bool)


def test_unsupported_schema_is_a_clear_error(local_provider: Provider) -> None:
    # llama.cpp's schema converter needs anchored patterns and local $refs; the error says so.
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": "[a-z]+"}}, "required": ["x"]}
    with pytest.raises(InvalidInputError, match="grammar"):
        local_provider.generate("x", {**SHORT, "response_format": schema})


def test_tool_call_is_a_well_formed_call_of_a_declared_tool(local_provider: Provider) -> None:
    result = local_provider.generate("Tell me the current weather in Oslo.", {**SHORT, "tools": [WEATHER, ADD]})
    assert result.finish_reason == "tool_calls"
    (call,) = result.tool_calls
    assert call.name in ("get_weather", "add")
    assert (
        schema_errors(call.arguments, WEATHER["parameters"] if call.name == "get_weather" else ADD["parameters"]) == []
    )
    forced = local_provider.generate("Add 2 and 3.", {**SHORT, "tools": [WEATHER, ADD], "tool_choice": {"name": "add"}})
    assert [c.name for c in forced.tool_calls] == ["add"]
    assert schema_errors(forced.tool_calls[0].arguments, ADD["parameters"]) == []


def test_tool_result_round_trip_ends_in_a_text_answer(local_provider: Provider) -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    history = [
        Message.user("What is the weather in Paris?"),
        Message.assistant(tool_calls=[call]),
        Message.tool("sunny, 24 C", "call_1"),
    ]
    final = local_provider.generate(history, {**SHORT, "tools": [WEATHER], "tool_choice": "none"})
    assert final.tool_calls == []
    assert final.text.strip()


def test_agent_answers_with_the_tool_result_on_local(local_provider: Provider) -> None:
    """A Haystack Agent on ProviderChatGenerator(provider="local") with the real 135M model: it
    calls the tool, and its final text answer carries the value the tool returned. (The model
    calls the tool again after the result; the core's repeated-call guard answers from the result
    instead -- recorded in the reply's meta.)"""
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage
    from haystack.tools import Tool

    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    def get_weather(city: str) -> str:
        return {"oslo": "light rain, 9 C"}.get(city.strip().lower(), f"no data for {city}")

    agent = Agent(
        chat_generator=ProviderChatGenerator(provider="local", generation_kwargs={"max_tokens": 96, "temperature": 0}),
        tools=[Tool(function=get_weather, **WEATHER)],
        max_agent_steps=4,
    )
    agent.warm_up()
    output = agent.run([ChatMessage.from_user("What is the weather in Oslo?")])
    messages = output["messages"]
    assert [c.arguments for m in messages for c in m.tool_calls] == [{"city": "Oslo"}]
    assert [r.result for m in messages for r in m.tool_call_results] == ["light rain, 9 C"]
    last = output["last_message"]
    assert not last.tool_calls
    assert "9" in (last.text or "")
    assert "rain" in (last.text or "")
    assert last.meta["repeated_tool_call"] == {"tool": "get_weather", "arguments": {"city": "Oslo"}}


def test_agent_yaml_runs_on_local_selected_by_environment(
    monkeypatch: pytest.MonkeyPatch, local_provider: Provider
) -> None:
    """The same examples/agents/agent.yaml as on fake, with HAYSWITCH_PROVIDER=local: the Agent
    calls get_weather with schema-valid arguments, gets its result, and ends with a text answer
    that uses it."""
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "local")
    monkeypatch.syspath_prepend(str(AGENTS))
    spec = importlib.util.spec_from_file_location("run_agent_local", AGENTS / "run_agent.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = module.run("What is the weather in Paris?")
    sys.modules.pop("weather_tools", None)
    messages = output["messages"]
    calls = [c for m in messages for c in m.tool_calls]
    results = [r for m in messages for r in m.tool_call_results]
    assert calls
    assert calls[0].tool_name in ("get_weather", "add")
    assert results
    assert all(not r.error for r in results)
    assert [(c.tool_name, c.arguments) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert [r.result for r in results] == ["sunny, 24 C"]
    last = output["last_message"]
    assert last.meta["provider"] == "local"
    assert not last.tool_calls
    assert "24" in (last.text or "")
    assert "sunny" in (last.text or "")


def test_grammar_strings_exclude_control_characters() -> None:
    """llama-cpp-python's schema converter admits raw control characters in strings (invalid JSON,
    seen in bench/tools_bench.py); the grammar hayswitch uses does not."""
    from llama_cpp import LlamaGrammar

    from hayswitch_local.provider import json_grammar

    gbnf = json_grammar({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
    (char_rule,) = [line for line in gbnf.splitlines() if line.startswith("char ::=")]
    assert char_rule.startswith(r'char ::= [^"\\\x7F\x00-\x1F] |')
    LlamaGrammar.from_string(gbnf, verbose=False)  # llama.cpp parses it


def test_grammar_bounds_strings_and_arrays_by_default() -> None:
    """Strings and arrays without a bound get the provider's grammar_max_length/grammar_max_items
    (a small model looping inside a string or list cannot run into max_tokens); None turns it off."""
    from llama_cpp import LlamaGrammar

    from hayswitch_local import LocalSettings
    from hayswitch_local.provider import json_grammar

    settings = LocalSettings()
    assert (settings.grammar_max_length, settings.grammar_max_items) == (160, 8)
    schema = {"type": "object", "properties": {"t": {"type": "array", "items": {"type": "string"}}}, "required": ["t"]}
    bounded = json_grammar(schema, max_length=3, max_items=2)
    assert 't ::= "[" space (t-item ("," space t-item)?)? "]" space' in bounded
    assert 't-item ::= "\\"" (char (char (char)?)?)? "\\"" space' in bounded
    LlamaGrammar.from_string(bounded, verbose=False)
    assert "char*" in json_grammar(schema)  # unbounded when asked
