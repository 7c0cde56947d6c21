"""Tools and structured output of the ``openai`` provider against the real llama.cpp server
(llama-cpp-python with SmolLM2-135M and the ``chatml-function-calling`` chat format, which gives
native tool calls with ``tool_choice="auto"``), started on loopback for this module."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool
from openai_support import DEFAULT_ALIAS, LIVE_KEY, server_settings
from tool_specs import ADD, WEATHER

from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator
from hayswitch.retry import NO_RETRY
from hayswitch.tooling import ToolCallAssembler, schema_errors
from hayswitch_openai import OpenAIProvider
from llamacpp_server import LlamaCppServer

pytestmark = [pytest.mark.live, pytest.mark.slow]

AGENTS = Path(__file__).resolve().parents[2] / "examples" / "agents"

OPTIONS = {"max_tokens": 64, "temperature": 0.0}


@pytest.fixture(scope="module")
def function_server() -> Iterator[LlamaCppServer]:
    server = LlamaCppServer(api_key=LIVE_KEY, chat_format="chatml-function-calling", startup_timeout=180)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(function_server: LlamaCppServer, live_key: str) -> dict[str, Any]:
    return server_settings(function_server.base_url, timeout=120.0)


@pytest.fixture
def provider(settings: dict[str, Any]) -> Iterator[OpenAIProvider]:
    p = OpenAIProvider(settings, retry=NO_RETRY)
    yield p
    p.close()


def test_auto_tool_call_is_native_and_schema_valid(provider: OpenAIProvider) -> None:
    result = provider.generate("What is the weather in Paris?", {**OPTIONS, "tools": [WEATHER]})
    assert result.finish_reason == "tool_calls"
    (call,) = result.tool_calls
    assert call.name == "get_weather"
    assert call.id
    assert schema_errors(call.arguments, WEATHER["parameters"]) == []


def test_streamed_tool_call_deltas_assemble(provider: OpenAIProvider) -> None:
    options = {**OPTIONS, "tools": [WEATHER], "tool_choice": {"name": "get_weather"}}
    assembler = ToolCallAssembler("openai")
    chunks = list(provider.stream("Weather in Oslo?", options))
    for chunk in chunks:
        assembler.feed(chunk.tool_calls)
    (call,) = assembler.calls()
    assert call.name == "get_weather"
    assert isinstance(call.arguments.get("city"), str)


def test_json_schema_response_format_is_enforced(provider: OpenAIProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    result = provider.generate("Name the capital of France.", {**OPTIONS, "response_format": schema})
    assert schema_errors(json.loads(result.text), schema) == []


def test_agent_answers_with_the_tool_result(settings: dict[str, Any]) -> None:
    """A Haystack Agent on ProviderChatGenerator(provider="openai") against the llama.cpp server:
    a native call, its result sent back, and a final text answer carrying the value the tool
    returned. (SmolLM2-135M calls the tool again after the result; the core's repeated-call guard
    answers from the result instead, recorded in the reply's meta.)"""

    def add(a: int, b: int) -> int:
        return a + b

    agent = Agent(
        chat_generator=ProviderChatGenerator(
            provider="openai", settings=settings, generation_kwargs={**OPTIONS, "max_tokens": 96}, retry=NO_RETRY
        ),
        tools=[Tool(function=add, **ADD), Tool(function=lambda city: "sunny", **WEATHER)],
        system_prompt="You are a helpful assistant. Use the tools when they help.",
        max_agent_steps=4,
    )
    agent.warm_up()
    result = agent.run([ChatMessage.from_user("What is 17 plus 25?")])
    messages = result["messages"]
    assert [(c.tool_name, c.arguments) for c in messages[2].tool_calls] == [("add", {"a": 17, "b": 25})]
    assert messages[3].tool_call_result.result == "42"
    assert messages[3].tool_call_result.origin.id == messages[2].tool_calls[0].id
    last = result["last_message"]
    assert not last.tool_calls
    assert "42" in (last.text or "")
    assert last.meta["repeated_tool_call"] == {"tool": "add", "arguments": {"a": 17, "b": 25}}


def test_agent_yaml_runs_on_openai_selected_by_environment(
    monkeypatch: pytest.MonkeyPatch, function_server: LlamaCppServer
) -> None:
    """The same examples/agents/agent.yaml as on fake and local, with HAYSWITCH_PROVIDER=openai
    (and the server's address in the environment): the Agent makes a native call of a declared
    tool with schema-valid arguments, runs it, sends its result back to the server and ends with a
    text answer that uses it."""
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "openai")
    monkeypatch.setenv("HAYSWITCH_OPENAI__BASE_URL", function_server.base_url)
    monkeypatch.setenv("HAYSWITCH_OPENAI__CHAT_MODEL", DEFAULT_ALIAS)
    monkeypatch.setenv("HAYSWITCH_OPENAI__TIMEOUT", "120")
    monkeypatch.setenv("OPENAI_API_KEY", LIVE_KEY)
    monkeypatch.syspath_prepend(str(AGENTS))
    spec = importlib.util.spec_from_file_location("run_agent_openai", AGENTS / "run_agent.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        output = module.run("What is the weather in Paris?")
    finally:
        sys.modules.pop("weather_tools", None)
    messages = output["messages"]
    calls = [c for m in messages for c in m.tool_calls]
    results = [r for m in messages for r in m.tool_call_results]
    assert calls
    assert calls[0].tool_name in ("get_weather", "add")
    assert results
    assert results[0].origin.id == calls[0].id
    assert all(not r.error for r in results)
    assert [(c.tool_name, c.arguments) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert [r.result for r in results] == ["sunny, 24 C"]
    replies = [m for m in messages if m.role.value == "assistant"]
    assert len(replies) == 2  # the tool result went back to the server and it answered
    assert all(m.meta["provider"] == "openai" for m in replies)
    last = output["last_message"]
    assert not last.tool_calls
    assert "24" in (last.text or "")
    assert "sunny" in (last.text or "")
