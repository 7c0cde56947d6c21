"""ProviderChatGenerator's tools contract (as OpenAIChatGenerator's), Haystack Agents on the fake
provider, structured output through generation_kwargs, and the agent YAML that switches backend by
configuration only."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from haystack import Pipeline
from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage, StreamingChunk, ToolCall
from haystack.tools import Tool, Toolset
from pydantic import BaseModel

import hayswitch
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator, ProviderGenerator
from hayswitch import Capabilities, InvalidInputError, UnsupportedOperation
from hayswitch.providers.fake import FakeProvider

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "examples" / "agents"


def get_weather(city: str) -> str:
    return {"paris": "sunny, 24 C"}.get(city.lower(), "unknown")


def add(a: int, b: int) -> int:
    return a + b


WEATHER = Tool(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    function=get_weather,
)
ADD = Tool(
    name="add",
    description="Add two integers.",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
    function=add,
)


class Person(BaseModel):
    name: str
    age: int


def test_run_signature_matches_openai_chat_generator() -> None:
    import inspect

    from haystack.components.generators.chat import OpenAIChatGenerator

    for method in ("run", "run_async"):
        ours = inspect.signature(getattr(ProviderChatGenerator, method)).parameters
        theirs = inspect.signature(getattr(OpenAIChatGenerator, method)).parameters
        for name in ("messages", "streaming_callback", "generation_kwargs", "tools", "tools_strict"):
            assert ours[name].kind == theirs[name].kind, (method, name)
            assert ours[name].default == theirs[name].default, (method, name)
    init = inspect.signature(ProviderChatGenerator.__init__).parameters
    assert init["tools"].default is None
    assert init["tools_strict"].default is False


def test_reply_carries_tool_calls_and_text_none() -> None:
    llm = ProviderChatGenerator(provider="fake", tools=[WEATHER, ADD])
    (reply,) = llm.run([ChatMessage.from_user("What is the weather in Paris?")])["replies"]
    assert reply.text is None
    assert reply.tool_calls == [ToolCall(tool_name="get_weather", arguments={"city": "Paris"}, id="call_0_0")]
    assert reply.meta["finish_reason"] == "tool_calls"


def test_run_level_tools_override_init_tools_and_accept_toolsets() -> None:
    llm = ProviderChatGenerator(provider="fake", tools=[WEATHER])
    (reply,) = llm.run([ChatMessage.from_user("add 2 and 5")], tools=Toolset([ADD]))["replies"]
    assert reply.tool_calls[0].tool_name == "add"
    assert reply.tool_calls[0].arguments == {"a": 2, "b": 5}
    (mixed,) = llm.run([ChatMessage.from_user("add 1 and 1")], tools=[Toolset([ADD]), WEATHER])["replies"]
    assert mixed.tool_calls[0].tool_name == "add"
    (plain,) = llm.run([ChatMessage.from_user("hello")], tools=[])["replies"]
    assert plain.text == "Echo: hello"
    assert not plain.tool_calls


def test_tool_results_are_understood() -> None:
    llm = ProviderChatGenerator(provider="fake", tools=[WEATHER])
    call = ToolCall(tool_name="get_weather", arguments={"city": "Paris"}, id="c9")
    messages = [
        ChatMessage.from_user("Weather in Paris?"),
        ChatMessage.from_assistant(tool_calls=[call]),
        ChatMessage.from_tool("sunny, 24 C", origin=call),
    ]
    (reply,) = llm.run(messages)["replies"]
    assert reply.text == "Echo: Weather in Paris? | get_weather: sunny, 24 C"


def test_tool_calls_without_ids_are_linked_to_their_results() -> None:
    llm = ProviderChatGenerator(provider="fake", tools=[WEATHER])
    call = ToolCall(tool_name="get_weather", arguments={"city": "Paris"})
    messages = [
        ChatMessage.from_user("Weather in Paris?"),
        ChatMessage.from_assistant(tool_calls=[call]),
        ChatMessage.from_tool("sunny", origin=call),
    ]
    assert llm.run(messages)["replies"][0].text.endswith("get_weather: sunny")


@pytest.mark.parametrize(
    ("kwargs", "run_kwargs", "error", "message"),
    [
        ({"tools": [WEATHER, WEATHER]}, {}, ValueError, "Duplicate tool names"),
        ({}, {"tools": [ADD, ADD]}, InvalidInputError, "Duplicate tool names"),
        ({"tools": [WEATHER], "generation_kwargs": {"tool_choice": {"name": "nope"}}}, {}, InvalidInputError, "'nope'"),
        (
            {"generation_kwargs": {"response_format": {"type": "object", "properties": {"x": {"type": 3}}}}},
            {},
            InvalidInputError,
            "JSON schema",
        ),
    ],
)
def test_bad_tools_are_refused_before_any_request(
    kwargs: dict[str, Any], run_kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    def make_and_run() -> None:
        llm = ProviderChatGenerator(provider="fake", **kwargs)
        llm.run([ChatMessage.from_user("hi")], **run_kwargs)

    with pytest.raises(error, match=message):
        make_and_run()


def test_tool_result_for_an_unknown_call_is_refused() -> None:
    llm = ProviderChatGenerator(provider="fake", tools=[WEATHER])
    stray = ToolCall(tool_name="get_weather", arguments={"city": "Oslo"}, id="c1")
    with pytest.raises(InvalidInputError, match="no earlier assistant"):
        llm.run([ChatMessage.from_user("hi"), ChatMessage.from_tool("rain", origin=stray)])


class NoTools(FakeProvider):
    name: ClassVar[str] = "no-tools"
    capabilities: ClassVar[Capabilities] = FakeProvider.capabilities.model_copy(
        update={"tools": None, "structured_output": None}
    )


def test_tools_and_response_format_on_a_provider_without_them() -> None:
    hayswitch.get_registry().register(NoTools)
    with pytest.raises(UnsupportedOperation, match="tools"):
        ProviderChatGenerator(provider="no-tools", tools=[WEATHER])
    with pytest.raises(UnsupportedOperation, match="response_format"):
        ProviderGenerator(provider="no-tools", generation_kwargs={"response_format": Person})
    llm = ProviderChatGenerator(provider="no-tools")
    with pytest.raises(UnsupportedOperation, match="tools"):
        llm.run([ChatMessage.from_user("hi")], tools=[WEATHER])


def test_streaming_callback_receives_tool_call_chunks_like_haystack() -> None:
    chunks: list[StreamingChunk] = []
    llm = ProviderChatGenerator(provider="fake", tools=[ADD], streaming_callback=chunks.append)
    (reply,) = llm.run([ChatMessage.from_user("add 20 and 22")])["replies"]
    calls = [c for c in chunks if c.tool_calls]
    assert calls
    assert all(not c.content for c in calls)
    assert calls[0].start
    assert calls[0].tool_calls[0].tool_name == "add"
    assert calls[0].tool_calls[0].id
    assert all(not c.start and c.tool_calls[0].tool_name is None for c in calls[1:])
    assert chunks[-1].finish_reason == "tool_calls"
    assert json.loads("".join(c.tool_calls[0].arguments or "" for c in calls)) == {"a": 20, "b": 22}
    assert reply.tool_calls == [ToolCall(tool_name="add", arguments={"a": 20, "b": 22}, id=calls[0].tool_calls[0].id)]


def test_streamed_text_and_async_callbacks() -> None:
    received: list[StreamingChunk] = []

    async def collect(chunk: StreamingChunk) -> None:
        received.append(chunk)

    llm = ProviderChatGenerator(provider="fake", tools=[WEATHER])
    call = ToolCall(tool_name="get_weather", arguments={"city": "Paris"}, id="c1")
    messages = [
        ChatMessage.from_user("Weather in Paris?"),
        ChatMessage.from_assistant(tool_calls=[call]),
        ChatMessage.from_tool("sunny", origin=call),
    ]
    (reply,) = asyncio.run(llm.run_async(messages, streaming_callback=collect))["replies"]
    assert reply.text == "".join(c.content for c in received)
    assert received[0].start
    assert received[-1].finish_reason == "stop"


def _agent(**kwargs: Any) -> Agent:
    agent = Agent(chat_generator=ProviderChatGenerator(provider="fake", **kwargs), tools=[WEATHER, ADD])
    agent.warm_up()
    return agent


def test_agent_runs_to_a_final_answer_using_the_tool_result() -> None:
    result = _agent().run([ChatMessage.from_user("What is the weather in Paris?")])
    roles = [m.role.value for m in result["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert result["messages"][2].tool_call_result.result == "sunny, 24 C"
    assert result["last_message"].text == "Echo: What is the weather in Paris? | get_weather: sunny, 24 C"


def test_agent_async_with_streaming_and_a_script() -> None:
    script = [{"tool_calls": [{"name": "add", "arguments": {"a": 40, "b": 2}}]}, {"text": "It is 42."}]
    chunks: list[StreamingChunk] = []
    agent = Agent(
        chat_generator=ProviderChatGenerator(provider="fake", settings={"script": script}),
        tools=[WEATHER, ADD],
        streaming_callback=chunks.append,
    )
    agent.warm_up()
    result = asyncio.run(agent.run_async([ChatMessage.from_user("What is forty plus two?")]))
    assert result["messages"][2].tool_call_result.result == "42"
    assert result["last_message"].text == "It is 42."
    assert any(c.tool_calls for c in chunks)
    assert any(c.tool_call_result for c in chunks)


def test_tools_round_trip_through_to_dict_and_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = ProviderChatGenerator(provider="fake", tools=Toolset([WEATHER, ADD]), tools_strict=True)
    data = llm.to_dict()
    assert data["init_parameters"]["tools"]["type"] == "haystack.tools.toolset.Toolset"
    assert data["init_parameters"]["tools_strict"] is True
    pipeline = Pipeline()
    pipeline.add_component("llm", llm)
    loaded = Pipeline.loads(pipeline.dumps(), allowed_modules=[__name__])
    again = loaded.get_component("llm")
    assert isinstance(again, ProviderChatGenerator)
    assert [t.name for t in again.tools] == ["get_weather", "add"]
    assert again.tools_strict is True
    assert again.to_dict() == data


@pytest.mark.parametrize(
    "response_format",
    [
        Person,
        {"type": "json_schema", "json_schema": {"name": "person", "schema": Person.model_json_schema()}},
        Person.model_json_schema(),
    ],
)
def test_response_format_forms_give_schema_valid_json(response_format: Any) -> None:
    llm = ProviderChatGenerator(provider="fake", generation_kwargs={"response_format": response_format})
    (reply,) = llm.run([ChatMessage.from_user("Ada is 36")])["replies"]
    assert Person.model_validate_json(reply.text).age == 36
    generator = ProviderGenerator(provider="fake")
    text = generator.run("Ada is 36", generation_kwargs={"response_format": response_format})["replies"][0]
    assert Person.model_validate_json(text).age == 36


def test_pydantic_response_format_serialises_as_openai_json_schema() -> None:
    llm = ProviderChatGenerator(provider="fake", generation_kwargs={"response_format": Person, "max_tokens": 9})
    kwargs = llm.to_dict()["init_parameters"]["generation_kwargs"]
    assert kwargs["max_tokens"] == 9
    assert kwargs["response_format"]["type"] == "json_schema"
    assert kwargs["response_format"]["json_schema"]["name"] == "Person"
    again = ProviderChatGenerator.from_dict(llm.to_dict())
    assert json.loads(again.run("Bo is 7")["replies"][0].text)["age"] == 7


def _run_agent_example() -> Any:
    spec = importlib.util.spec_from_file_location("run_agent_example", AGENTS / "run_agent.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_agent_yaml_is_current() -> None:
    """examples/agents/agent.yaml is what build_agent_yaml.py writes (regenerate it if this fails)."""
    spec = importlib.util.spec_from_file_location("build_agent_yaml", AGENTS / "build_agent_yaml.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build().dumps() == (AGENTS / "agent.yaml").read_text()


def test_agent_yaml_runs_on_fake_selected_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    monkeypatch.syspath_prepend(str(AGENTS))
    output = _run_agent_example().run("What is the weather in Paris?")
    messages = output["messages"]
    assert [m.role.value for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[3].tool_call_result.result == "sunny, 24 C"
    assert "sunny, 24 C" in output["last_message"].text
    assert output["last_message"].meta["provider"] == "fake"
    sys.modules.pop("weather_tools", None)
