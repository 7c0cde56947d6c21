"""ProviderChatGenerator and ProviderGenerator on the fake provider (and the non-streaming ``alt``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from haystack.dataclasses import ChatMessage, StreamingChunk, ToolCall

from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator, ProviderGenerator
from hayswitch import InvalidInputError, Provider, ServerError, UnsupportedOperation

from .conftest import NO_RETRY

CHAT_TYPE = "haystack_integrations.components.generators.hayswitch.chat_generator.ProviderChatGenerator"


def test_chat_reply_meta_has_model_finish_reason_and_usage() -> None:
    llm = ProviderChatGenerator(provider="fake")
    messages = [ChatMessage.from_system("Be brief."), ChatMessage.from_user("What is hayswitch")]
    (reply,) = llm.run(messages)["replies"]
    assert reply.is_from("assistant")
    assert reply.text == "Echo: What is hayswitch"
    assert reply.meta == {
        "model": "fake-chat",
        "index": 0,
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        "provider": "fake",
    }


def test_chat_accepts_a_prompt_string_and_an_empty_list() -> None:
    llm = ProviderChatGenerator(provider="fake")
    assert llm.run("hi there")["replies"][0].text == "Echo: hi there"
    assert llm.run([])["replies"] == []


def test_generation_kwargs_are_merged_per_key_run_level_wins(caplog: pytest.LogCaptureFixture) -> None:
    llm = ProviderChatGenerator(provider="fake", generation_kwargs={"max_tokens": 3, "stop": ["STOP"]})
    prompt = "one two three four five STOP six"
    with caplog.at_level(logging.WARNING):
        short = llm.run(prompt)["replies"][0]
    assert short.text == "Echo: one two"
    assert short.meta["finish_reason"] == "length"
    assert "max_tokens" in caplog.text
    longer = llm.run(prompt, generation_kwargs={"max_tokens": 50})["replies"][0]
    assert longer.text == "Echo: one two three four five"  # init-level stop kept
    assert longer.meta["finish_reason"] == "stop"
    assert llm.generation_kwargs == {"max_tokens": 3, "stop": ["STOP"]}  # not mutated by the run


def test_unknown_generation_kwargs_are_refused_at_init_with_the_allowed_list() -> None:
    with pytest.raises(InvalidInputError, match=r"max_completion_tokens.*Allowed options: max_tokens"):
        ProviderChatGenerator(provider="fake", generation_kwargs={"max_completion_tokens": 5})
    with pytest.raises(InvalidInputError, match="temperature"):
        ProviderGenerator(provider="fake", generation_kwargs={"temperature": 9})


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_unknown_run_level_kwargs_are_refused_before_any_request(mode: str) -> None:
    llm = ProviderChatGenerator(provider="fake")

    def call() -> object:
        if mode == "async":
            return asyncio.run(llm.run_async("hello", generation_kwargs={"n": 2}))
        return llm.run("hello", generation_kwargs={"n": 2})

    with pytest.raises(InvalidInputError, match="unknown"):
        call()
    provider = llm.provider_instance
    assert provider is not None
    assert provider.requests == 0  # type: ignore[attr-defined]


def test_provider_specific_options_are_accepted_for_that_provider_only(alt: type[Provider]) -> None:
    llm = ProviderChatGenerator(provider="alt", generation_kwargs={"shout": True})
    assert llm.run("quiet words")["replies"][0].text == "ALT QUIET WORDS"
    with pytest.raises(InvalidInputError, match="shout"):
        ProviderChatGenerator(provider="fake", generation_kwargs={"shout": True})


def test_streaming_callback_receives_haystack_chunks() -> None:
    chunks: list[StreamingChunk] = []
    llm = ProviderChatGenerator(provider="fake", streaming_callback=chunks.append)
    (reply,) = llm.run("stream these words")["replies"]
    assert [c.content for c in chunks] == ["Echo:", " stream", " these", " words"]
    assert all(isinstance(c, StreamingChunk) for c in chunks)
    assert chunks[0].start
    assert not any(c.start for c in chunks[1:])
    assert chunks[-1].finish_reason == "stop"
    assert chunks[0].component_info is not None
    assert chunks[0].component_info.type == CHAT_TYPE
    assert reply.text == "Echo: stream these words"
    assert reply.meta["finish_reason"] == "stop"
    assert reply.meta["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert reply.meta["completion_start_time"] == chunks[0].meta["received_at"]


def test_run_level_callback_takes_precedence() -> None:
    init_chunks: list[StreamingChunk] = []
    run_chunks: list[StreamingChunk] = []
    llm = ProviderChatGenerator(provider="fake", streaming_callback=init_chunks.append)
    llm.run("a b", streaming_callback=run_chunks.append)
    assert init_chunks == []
    assert "".join(c.content for c in run_chunks) == "Echo: a b"


def test_async_callback_is_refused_in_sync_run_and_awaited_in_run_async() -> None:
    received: list[str] = []

    async def callback(chunk: StreamingChunk) -> None:
        await asyncio.sleep(0)
        received.append(chunk.content)

    llm = ProviderChatGenerator(provider="fake")
    with pytest.raises(ValueError, match="coroutine"):
        llm.run("x", streaming_callback=callback)
    (reply,) = asyncio.run(llm.run_async("async words", streaming_callback=callback))["replies"]
    assert "".join(received) == reply.text == "Echo: async words"


def test_sync_callback_works_in_run_async() -> None:
    received: list[StreamingChunk] = []
    llm = ProviderChatGenerator(provider="fake", streaming_callback=received.append)
    (reply,) = asyncio.run(llm.run_async("plain callback"))["replies"]
    assert "".join(c.content for c in received) == reply.text


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_provider_that_cannot_stream_delivers_one_chunk(alt: type[Provider], mode: str) -> None:
    chunks: list[StreamingChunk] = []
    llm = ProviderChatGenerator(provider="alt", streaming_callback=chunks.append)
    if mode == "async":
        (reply,) = asyncio.run(llm.run_async("no stream"))["replies"]
    else:
        (reply,) = llm.run("no stream")["replies"]
    assert len(chunks) == 1
    assert chunks[0].content == reply.text == "ALT no stream"
    assert chunks[0].start
    assert chunks[0].finish_reason == "stop"
    assert reply.meta["provider"] == "alt"
    assert reply.meta["model"] == "alt-chat"
    assert reply.meta["usage"] == {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}


def test_sync_and_async_replies_match() -> None:
    llm = ProviderChatGenerator(provider="fake", generation_kwargs={"max_tokens": 4})
    messages = [ChatMessage.from_user("same input for both paths please")]
    sync = llm.run(messages)["replies"][0]
    asynchronous = asyncio.run(llm.run_async(messages))["replies"][0]
    assert sync.text == asynchronous.text
    assert sync.meta == asynchronous.meta


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (["hello"], r"messages\[0\] is a str, not a haystack ChatMessage"),
        ([{"role": "user", "content": "hi"}], r"messages\[0\] is a dict"),
        (ChatMessage.from_user("x"), "takes a list of haystack ChatMessage"),
        (42, "takes a list of haystack ChatMessage"),
        ([ChatMessage.from_tool("r", origin=ToolCall(tool_name="f", arguments={}))], "no earlier assistant"),
        ([ChatMessage.from_user("   ")], "empty"),
        ("", "empty"),
    ],
)
def test_chat_bad_input_is_refused(messages: Any, message: str) -> None:
    llm = ProviderChatGenerator(provider="fake")
    with pytest.raises(InvalidInputError, match=message):
        llm.run(messages)
    with pytest.raises(InvalidInputError, match=message):
        asyncio.run(llm.run_async(messages))


def test_provider_errors_propagate_typed() -> None:
    llm = ProviderChatGenerator(provider="fake", settings={"fail_first": 5}, retry=NO_RETRY)
    with pytest.raises(ServerError):
        llm.run("x")


def test_generator_without_generation_capability_is_refused(alt: type[Provider]) -> None:
    with pytest.raises(UnsupportedOperation, match="needs a provider with generation"):
        ProviderChatGenerator(provider="embed-only")
    with pytest.raises(UnsupportedOperation):
        ProviderGenerator(provider="embed-only")


# --------------------------------------------------------------------------- prompt-string form


def test_prompt_generator_returns_replies_and_meta() -> None:
    generator = ProviderGenerator(provider="fake", generation_kwargs={"max_tokens": 10})
    out = generator.run("Answer the query")
    assert out["replies"] == ["Echo: Answer the query"]
    assert out["meta"] == [
        {
            "model": "fake-chat",
            "index": 0,
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            "provider": "fake",
        }
    ]
    assert asyncio.run(generator.run_async("Answer the query")) == out


def test_prompt_generator_system_prompt_is_sent() -> None:
    plain = ProviderGenerator(provider="fake").run("a b")["meta"][0]["usage"]["prompt_tokens"]
    with_system = ProviderGenerator(provider="fake", system_prompt="you are four words").run("a b")
    assert with_system["meta"][0]["usage"]["prompt_tokens"] == plain + 4
    assert with_system["replies"] == ["Echo: a b"]


def test_prompt_generator_streams_and_merges_kwargs() -> None:
    chunks: list[StreamingChunk] = []
    generator = ProviderGenerator(provider="fake", generation_kwargs={"max_tokens": 2})
    out = generator.run("one two three", generation_kwargs={"max_tokens": 3}, streaming_callback=chunks.append)
    assert out["replies"] == ["Echo: one two"]
    assert "".join(c.content for c in chunks) == "Echo: one two"
    assert out["meta"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("prompt", "message"),
    [([ChatMessage.from_user("x")], "Use ProviderChatGenerator"), (None, "takes a prompt string"), (" ", "empty")],
)
def test_prompt_generator_bad_input(prompt: Any, message: str) -> None:
    generator = ProviderGenerator(provider="fake")
    with pytest.raises(InvalidInputError, match=message):
        generator.run(prompt)
    with pytest.raises(InvalidInputError, match=message):
        asyncio.run(generator.run_async(prompt))


def test_generation_kwargs_must_be_a_dict() -> None:
    with pytest.raises(InvalidInputError, match="generation_kwargs must be a dict"):
        ProviderChatGenerator(provider="fake", generation_kwargs=["max_tokens"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="generation_kwargs must be a dict"):
        ProviderGenerator(provider="fake").run("x", generation_kwargs="max_tokens=3")  # type: ignore[arg-type]


def test_generator_model_option(alt: type[Provider]) -> None:
    out = ProviderGenerator(provider="alt", model="alt-chat-xl").run("q")
    assert out["meta"][0]["model"] == "alt-chat-xl"
