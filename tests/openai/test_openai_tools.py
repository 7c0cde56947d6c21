"""Tools and structured output on the ``openai`` provider against an HTTP transport playing the
server: the request shape (tools, tool_choice, tool messages, response_format), tool calls in
replies, and streamed tool-call deltas exactly as OpenAI sends them (first delta with id and name,
then argument fragments, parallel calls interleaved by index)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from test_openai_provider import BASE, FakeServer, completion

from hayswitch import InvalidInputError, Message, ResponseError, RetryPolicy, ToolCall
from hayswitch.retry import NO_RETRY
from hayswitch.tooling import ToolCallAssembler
from hayswitch_openai import OpenAIProvider


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def make(server: FakeServer) -> Iterator[Callable[..., OpenAIProvider]]:
    made: list[OpenAIProvider] = []

    def factory(**settings: Any) -> OpenAIProvider:
        transport = httpx2.MockTransport(server)
        base = {"base_url": BASE, "api_key": None, "chat_model": "chat-m", "embedding_model": "emb-m"}
        provider = OpenAIProvider(
            {**base, **settings},
            retry=NO_RETRY,
            http_client=httpx2.Client(transport=transport),
            async_http_client=httpx2.AsyncClient(transport=transport),
        )
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        provider.close()


WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ADD = {
    "name": "add",
    "description": "Add",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}


def tool_completion(calls: list[tuple[str, str, str]], content: str | None = None) -> dict[str, Any]:
    body = completion(content or "", "tool_calls")
    message = body["choices"][0]["message"]
    message["content"] = content
    message["tool_calls"] = [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls
    ]
    return body


def event(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    payload: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "chat-m"}
    payload["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage is not None:
        payload["usage"] = usage
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def openai_tool_stream() -> httpx2.Response:
    """Two parallel calls, as OpenAI streams them: role first, each call's id+name with empty
    arguments, argument fragments, finish_reason "tool_calls", then the usage chunk."""

    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    events = [
        event({"role": "assistant", "content": None}),
        event(call(0, id="call_w", type="function", function={"name": "get_weather", "arguments": ""})),
        event(call(0, function={"arguments": '{"ci'})),
        event(call(0, function={"arguments": 'ty": "Pa'})),
        event(call(0, function={"arguments": 'ris"}'})),
        event(call(1, id="call_a", type="function", function={"name": "add", "arguments": ""})),
        event(call(1, function={"arguments": '{"a": 2, '})),
        event(call(1, function={"arguments": '"b": 3}'})),
        event({}, "tool_calls"),
        event(None, usage={"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32}),
        b"data: [DONE]\n\n",
    ]
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(events))


def test_tools_tool_choice_and_tool_messages_are_sent_natively(
    make: Callable[..., OpenAIProvider], server: FakeServer
) -> None:
    server.reply = lambda path, body: httpx2.Response(200, json=completion("It is sunny.", "stop"))
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    history = [
        Message.user("Weather in Paris?"),
        Message.assistant(tool_calls=[call]),
        Message.tool("sunny", "call_1"),
    ]
    make().generate(history, {"tools": [WEATHER, {**ADD, "strict": True}]})
    body = server.bodies("/chat/completions")[0]
    assert body["tools"] == [
        {"type": "function", "function": dict(WEATHER)},
        {"type": "function", "function": {**ADD, "strict": True}},
    ]
    assert body["tool_choice"] == "auto"
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    }
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("required", "required"),
        ("none", "none"),
        ({"name": "add"}, {"type": "function", "function": {"name": "add"}}),
        ({"type": "function", "function": {"name": "add"}}, {"type": "function", "function": {"name": "add"}}),
    ],
)
def test_tool_choice_forms(make: Callable[..., OpenAIProvider], server: FakeServer, choice: Any, sent: Any) -> None:
    args = '{"a": 1, "b": 2}'
    reply = completion("ok", "stop") if choice == "none" else tool_completion([("c", "add", args)])
    server.reply = lambda path, body: httpx2.Response(200, json=reply)
    make().generate("add", {"tools": [ADD, WEATHER], "tool_choice": choice})
    assert server.bodies("/chat/completions")[0]["tool_choice"] == sent


def test_tool_calls_in_a_reply(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    reply = tool_completion([("call_w", "get_weather", '{"city": "Oslo"}'), ("call_a", "add", '{"a": 1, "b": 2}')])
    server.reply = lambda path, body: httpx2.Response(200, json=reply)
    result = make().generate("go", {"tools": [WEATHER, ADD]})
    assert result.finish_reason == "tool_calls"
    assert result.text == ""
    assert result.tool_calls == [
        ToolCall(id="call_w", name="get_weather", arguments={"city": "Oslo"}),
        ToolCall(id="call_a", name="add", arguments={"a": 1, "b": 2}),
    ]


@pytest.mark.parametrize(
    ("args", "problem"),
    [('{"city": ', "not valid JSON"), ('{"town": "Oslo"}', "'city' is a required property"), ("[1]", "JSON object")],
)
def test_malformed_tool_arguments_are_retried_then_raised(
    make: Callable[..., OpenAIProvider], server: FakeServer, args: str, problem: str
) -> None:
    server.reply = lambda path, body: httpx2.Response(200, json=tool_completion([("c", "get_weather", args)]))
    provider = make()
    provider.retry_policy = RetryPolicy(max_attempts=2, initial_wait=0, max_wait=0, jitter=False)
    with pytest.raises(ResponseError, match=problem) as excinfo:
        provider.generate("weather", {"tools": [WEATHER]})
    assert excinfo.value.retryable
    assert len(server.bodies("/chat/completions")) == 2


def test_streamed_tool_call_deltas_as_openai_sends_them(
    make: Callable[..., OpenAIProvider], server: FakeServer
) -> None:
    server.reply = lambda path, body: openai_tool_stream()
    chunks = list(make().stream("go", {"tools": [WEATHER, ADD]}))
    deltas = [d for c in chunks for d in c.tool_calls]
    assert [(d.index, d.id, d.name) for d in deltas if d.name] == [(0, "call_w", "get_weather"), (1, "call_a", "add")]
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 32
    assembler = ToolCallAssembler("openai")
    for chunk in chunks:
        assembler.feed(chunk.tool_calls)
    assert assembler.calls() == [
        ToolCall(id="call_w", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="call_a", name="add", arguments={"a": 2, "b": 3}),
    ]
    body = server.bodies("/chat/completions")[0]
    assert body["stream"] is True
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_async_stream_of_tool_calls_matches_sync(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    server.reply = lambda path, body: openai_tool_stream()
    provider = make()

    async def collect() -> list[Any]:
        return [c async for c in provider.astream("go", {"tools": [WEATHER, ADD]})]

    assert asyncio.run(collect()) == list(provider.stream("go", {"tools": [WEATHER, ADD]}))


def test_streamed_invalid_arguments_raise_at_the_end(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    def broken(path: str, body: dict[str, Any]) -> httpx2.Response:
        events = [
            event(
                {
                    "role": "assistant",
                    "tool_calls": [{"index": 0, "id": "c", "function": {"name": "add", "arguments": '{"a": 1'}}],
                }
            ),
            event({}, "tool_calls"),
            b"data: [DONE]\n\n",
        ]
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(events))

    server.reply = broken
    with pytest.raises(ResponseError, match="not valid JSON"):
        list(make().stream("go", {"tools": [ADD]}))


def test_response_format_forms_are_sent_and_replies_checked(
    make: Callable[..., OpenAIProvider], server: FakeServer
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    server.reply = lambda path, body: httpx2.Response(200, json=completion('{"n": 4}', "stop"))
    provider = make()
    assert json.loads(provider.generate("n?", {"response_format": schema}).text) == {"n": 4}
    sent = server.bodies("/chat/completions")[0]["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    server.reply = lambda path, body: httpx2.Response(200, json=completion('{"n": "four"}', "stop"))
    with pytest.raises(ResponseError, match="response_format schema"):
        provider.generate("n?", {"response_format": schema})


def test_grammar_schema_sends_bounded_schemas_and_validates_against_the_original(
    make: Callable[..., OpenAIProvider], server: FakeServer
) -> None:
    """With grammar_schema (for llama.cpp's server), the schemas sent bound generation by
    construction; the reply is still checked against the user's own schema. Off by default."""
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 0, "maximum": 3},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mood": {"enum": ["ok", "bad"]},
        },
        "required": ["age", "tags"],
    }
    server.reply = lambda path, body: httpx2.Response(200, json=completion('{"age": 2, "tags": ["a"]}', "stop"))
    plain = make(response_format_style="json_object_schema")
    plain.generate("x", {"response_format": schema, "tools": [WEATHER]})
    assert server.bodies("/chat/completions")[0]["response_format"] == {"type": "json_object", "schema": schema}
    assert server.bodies("/chat/completions")[0]["tools"][0]["function"]["parameters"] == WEATHER["parameters"]
    bounded = make(response_format_style="json_object_schema", grammar_schema=True, grammar_max_length=40)
    bounded.generate("x", {"response_format": schema, "tools": [WEATHER]})
    body = server.bodies("/chat/completions")[1]
    sent = body["response_format"]["schema"]["properties"]
    assert sent["age"] == {"enum": [0, 1, 2, 3]}
    assert sent["tags"] == {
        "type": "array",
        "items": {"type": "string", "pattern": '^[^"\\\\\\x00-\\x1f]{0,40}$'},
        "maxItems": 8,
    }
    assert sent["mood"] == {"enum": ["ok", "bad"]}
    city = body["tools"][0]["function"]["parameters"]["properties"]["city"]
    assert city["pattern"].endswith("{0,40}$")
    # Validation uses the original schema: an age the grammar forbids would still be refused.
    server.reply = lambda path, body: httpx2.Response(200, json=completion('{"age": 9, "tags": []}', "stop"))
    with pytest.raises(ResponseError, match="9 is greater than the maximum of 3"):
        bounded.generate("x", {"response_format": schema})


def test_bad_tool_requests_send_nothing(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    provider = make()
    for options in (
        {"tools": [WEATHER, WEATHER]},
        {"tools": [WEATHER], "tool_choice": {"name": "add"}},
        {"tools": [{**WEATHER, "parameters": {"type": "object", "properties": {"x": {"type": "nope"}}}}]},
    ):
        with pytest.raises(InvalidInputError):
            provider.generate("hi", options)
    with pytest.raises(InvalidInputError, match="no earlier assistant"):
        provider.generate([Message.user("x"), Message.tool("r", "call_9")], {"tools": [WEATHER]})
    assert server.requests == []


AGE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 130}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize("run_async", [False, True])
def test_invalid_structured_replies_are_repaired_not_repeated(
    make: Callable[..., OpenAIProvider], server: FakeServer, run_async: bool
) -> None:
    # A server whose schema grammar ignores numeric bounds, then one that stops at max_tokens.
    replies = iter(
        [
            completion('{"name": "Tom", "age": 1000}', "stop"),
            completion('{"name": "Tom", "age": 10, "note": "a lo', "length"),
            completion('{"name": "Tom", "age": 10}', "stop"),
        ]
    )
    server.reply = lambda path, body: httpx2.Response(200, json=next(replies))
    provider = make(response_format_style="json_object_schema")
    options = {"response_format": AGE, "temperature": 0.0, "max_tokens": 64}
    result = (
        asyncio.run(provider.agenerate("A child named Tom.", options))
        if run_async
        else provider.generate("A child named Tom.", options)
    )
    assert json.loads(result.text) == {"name": "Tom", "age": 10}
    first, second, third = server.bodies("/chat/completions")
    assert [body["max_tokens"] for body in (first, second, third)] == [64, 64, 128]
    assert second["messages"][:-2] == first["messages"]
    assert second["messages"][-2] == {"role": "assistant", "content": '{"name": "Tom", "age": 1000}'}
    assert "1000 is greater than the maximum of 130" in second["messages"][-1]["content"]
    assert "cut off at the max_tokens limit (64 tokens)" in third["messages"][-1]["content"]
    assert third["response_format"] == {"type": "json_object", "schema": AGE}
