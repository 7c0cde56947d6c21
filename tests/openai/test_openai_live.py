"""Live tests: the ``openai`` provider against a real OpenAI-compatible server on 127.0.0.1
(llama-cpp-python's server with SmolLM2-135M, started once per session by ``llama_server``).

Streaming, concurrency (many simultaneous requests through ``AsyncOpenAI``) and real failures:
unknown model, wrong path, wrong key, timeout, and a server that stops mid-run.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from openai_support import LIVE_KEY, server_settings

from hayswitch import (
    AuthenticationError,
    GenerationChunk,
    NotFoundError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RetryPolicy,
)
from hayswitch.retry import NO_RETRY
from hayswitch_openai import OpenAIProvider
from llamacpp_server import LlamaCppServer

pytestmark = pytest.mark.live

SHORT = {"max_tokens": 6, "temperature": 0.0}


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture
def provider(live_settings: dict[str, Any]) -> Any:
    p = OpenAIProvider(live_settings, retry=NO_RETRY)
    yield p
    p.close()


def test_embeddings_and_chat_from_one_served_model(provider: OpenAIProvider) -> None:
    docs = provider.embed_documents(["The cat sat on the mat.", "Paris is in France.", "Qubits are quantum."])
    assert docs.dimension == 576  # SmolLM2-135M hidden size, mean-pooled
    assert provider.embedding_dimension == 576
    assert docs.usage is not None
    query = provider.embed_text("Paris is in France.")
    assert cosine(query.vector, docs.vectors[1]) > 0.999  # same text, same vector (no query prefix)
    result = provider.generate("Name a colour.", SHORT)
    assert result.text.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.usage is not None
    assert result.usage.completion_tokens is not None
    assert 0 < result.usage.completion_tokens <= 6


def test_streaming_is_token_by_token_and_matches_generate(provider: OpenAIProvider) -> None:
    options = {"max_tokens": 12, "temperature": 0.0, "seed": 7}
    chunks = list(provider.stream("Count from one to ten.", options))
    assert len(chunks) >= 3, "the server streamed the reply in one piece"
    assert all(isinstance(c, GenerationChunk) for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert chunks[-1].finish_reason == "length"
    streamed = "".join(c.text for c in chunks)
    assert streamed == provider.generate("Count from one to ten.", options).text  # greedy decoding


async def test_async_stream(provider: OpenAIProvider) -> None:
    chunks = [c async for c in provider.astream("Say hello.", SHORT)]
    assert len(chunks) >= 2
    assert chunks[-1].finish_reason in ("stop", "length")
    assert "".join(c.text for c in chunks).strip()


async def test_32_simultaneous_generations(provider: OpenAIProvider) -> None:
    prompts = [f"Repeat the number {i}." for i in range(32)]
    results = await asyncio.gather(*(provider.agenerate(p, {"max_tokens": 2, "temperature": 0.0}) for p in prompts))
    assert len(results) == 32
    assert all(r.text.strip() and r.finish_reason in ("stop", "length") for r in results)


async def test_simultaneous_embeddings_keep_their_inputs(provider: OpenAIProvider) -> None:
    texts = [f"Sentence number {i} is about {topic}." for i, topic in enumerate(["cats", "tax", "rain", "jazz"] * 4)]
    concurrent = await asyncio.gather(*(provider.aembed_text(t) for t in texts))
    sequential = provider.embed_documents(texts)
    for i, (a, b) in enumerate(zip(concurrent, sequential.vectors, strict=True)):
        assert cosine(a.vector, b) > 0.999, f"concurrent result {i} belongs to another input"


async def test_simultaneous_streams_all_complete(provider: OpenAIProvider) -> None:
    async def collect(i: int) -> list[GenerationChunk]:
        return [c async for c in provider.astream(f"Say {i}.", {"max_tokens": 4, "temperature": 0.0})]

    streams = await asyncio.gather(*(collect(i) for i in range(8)))
    for chunks in streams:
        assert chunks[-1].finish_reason in ("stop", "length"), "a stream was cut by a concurrent request"


def test_json_response_format(provider: OpenAIProvider) -> None:
    result = provider.generate(
        "Give a JSON object with a key 'a'.", {"max_tokens": 16, "temperature": 0.0, "response_format": "json_object"}
    )
    assert result.text.lstrip().startswith("{"), result.text


def test_unknown_model_is_not_found_with_check_models(live_settings: dict[str, Any]) -> None:
    provider = OpenAIProvider({**live_settings, "chat_model": "no-such-model", "check_models": True}, retry=NO_RETRY)
    with pytest.raises(NotFoundError) as excinfo:
        provider.generate("hi", SHORT)
    assert "no-such-model" in str(excinfo.value)
    assert "smollm2" in str(excinfo.value), "the error lists the models the server does serve"
    provider.close()


def test_wrong_path_is_a_real_404(llama_server: LlamaCppServer, live_key: str) -> None:
    base = llama_server.base_url.removesuffix("/v1") + "/not-the-api/v1"
    provider = OpenAIProvider(server_settings(base), retry=NO_RETRY)
    with pytest.raises(NotFoundError) as excinfo:
        provider.embed_text("hi")
    assert excinfo.value.status_code == 404
    provider.close()


def test_wrong_key_is_authentication_error(llama_server: LlamaCppServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_TEST_OPENAI_KEY", "sk-wrong-key-000000")
    provider = OpenAIProvider(server_settings(llama_server.base_url), retry=NO_RETRY)
    with pytest.raises(AuthenticationError) as excinfo:
        provider.generate("hi", SHORT)
    assert excinfo.value.status_code == 401
    assert "sk-wrong-key-000000" not in str(excinfo.value)
    assert LIVE_KEY not in str(excinfo.value)
    provider.close()
    # No key at all: the placeholder is sent and refused the same way.
    anonymous = OpenAIProvider({**server_settings(llama_server.base_url), "api_key": None}, retry=NO_RETRY)
    with pytest.raises(AuthenticationError):
        anonymous.embed_text("hi")
    anonymous.close()


def test_timeout_is_provider_timeout(live_settings: dict[str, Any]) -> None:
    provider = OpenAIProvider({**live_settings, "timeout": 0.05}, retry=NO_RETRY)
    with pytest.raises(ProviderTimeoutError):
        provider.generate("Write a long story about the sea.", {"max_tokens": 24, "temperature": 0.0})
    provider.close()


def test_llamacpp_truncates_long_embedding_inputs(provider: OpenAIProvider) -> None:
    """llama.cpp (unlike OpenAI/vLLM, see the contract override) embeds over-long input truncated."""
    text = " ".join(f"word{i % 50}" for i in range(1000))  # ~3000 tokens: far beyond the window
    result = provider.embed_documents([text])
    assert result.dimension == 576


def test_server_stopped_mid_run() -> None:
    """A separate short-lived server: works, crashes mid-stream, then refuses connections."""
    server = LlamaCppServer(startup_timeout=120)
    try:
        server.start()
        settings = {**server_settings(server.base_url), "api_key": None}
        provider = OpenAIProvider(settings, retry=RetryPolicy(max_attempts=2, initial_wait=0, max_wait=0))
        assert provider.generate("hi", SHORT).text.strip()

        stream = provider.stream("Tell a very long story about dragons.", {"max_tokens": 400, "temperature": 0.0})
        received = [next(stream)]
        server.kill()
        with pytest.raises(ProviderConnectionError):
            received.extend(stream)
        assert received[0].text

        for call in (lambda: provider.embed_text("hi"), lambda: provider.generate("hi", SHORT)):
            with pytest.raises(ProviderConnectionError) as excinfo:
                call()
            assert server.base_url in str(excinfo.value)
            assert excinfo.value.retryable
        with pytest.raises(ProviderConnectionError):
            asyncio.run(provider.agenerate("hi", SHORT))
        provider.close()
    finally:
        server.stop()
