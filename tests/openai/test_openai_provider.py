"""Behaviour of the ``openai`` provider against an HTTP transport that plays the server: what is
sent (bodies, headers, parameters) and how answers are mapped (ordering, usage, finish reasons,
streaming), plus settings and option validation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from hayswitch import (
    ContentFilteredError,
    InvalidInputError,
    InvalidRequestError,
    MissingSecretError,
    NotFoundError,
    ResponseError,
    SettingsError,
    get_provider,
)
from hayswitch.retry import NO_RETRY
from hayswitch_openai import OpenAIGenerationOptions, OpenAIProvider, OpenAISettings
from hayswitch_openai.provider import MAX_BATCH_SIZE, NO_KEY_PLACEHOLDER

BASE = "http://openai-mock.test/v1"


class FakeServer:
    """A scripted OpenAI-compatible server: records requests, answers with ``reply``."""

    def __init__(self, reply: Callable[[str, dict[str, Any]], httpx2.Response] | None = None) -> None:
        self.requests: list[tuple[str, dict[str, Any], httpx2.Headers]] = []
        self.reply = reply or self.default_reply

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else {}
        path = request.url.path
        self.requests.append((path, body, request.headers))
        return self.reply(path, body)

    @staticmethod
    def default_reply(path: str, body: dict[str, Any]) -> httpx2.Response:
        if path.endswith("/embeddings"):
            n = len(body["input"])
            # answer in reverse order: the provider must sort by index
            data = [{"object": "embedding", "index": i, "embedding": [float(i), 1.0, -1.0]} for i in reversed(range(n))]
            return httpx2.Response(200, json={"object": "list", "model": body["model"], "data": data})
        if path.endswith("/chat/completions"):
            if body.get("stream"):
                return sse(["Hello", " there", "!"], usage="stream_options" in body)
            return httpx2.Response(200, json=completion("Hello there!", "stop"))
        if path.endswith("/models"):
            return httpx2.Response(200, json={"object": "list", "data": [{"id": "emb-m", "object": "model"}]})
        return httpx2.Response(404, json={"error": {"message": "no route"}})

    def bodies(self, suffix: str) -> list[dict[str, Any]]:
        return [body for path, body, _ in self.requests if path.endswith(suffix)]


def completion(text: str, finish: str, model: str = "chat-m") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def sse(pieces: list[str], *, usage: bool, finish: str = "stop") -> httpx2.Response:
    def event(payload: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "chat-m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    events = [event(chunk({"role": "assistant"}))]
    events += [event(chunk({"content": p})) for p in pieces]
    events.append(event(chunk({}, finish)))
    if usage:
        events.append(
            event(
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "chat-m",
                    "choices": [],
                    "usage": {"prompt_tokens": 4, "completion_tokens": len(pieces), "total_tokens": 4 + len(pieces)},
                }
            )
        )
    events.append(b"data: [DONE]\n\n")
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(events))


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


# --------------------------------------------------------------------------- settings


def test_settings_defaults_and_env_secret() -> None:
    s = OpenAISettings()
    assert s.base_url is None
    assert s.api_key is not None
    assert s.api_key.env_vars == ("OPENAI_API_KEY",)
    assert s.to_public_dict()["api_key"] == {"type": "env_var", "env_vars": ["OPENAI_API_KEY"], "strict": False}


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"base_url": "127.0.0.1:8000/v1"}, "base_url"),
        ({"base_url": "http://user:pw@host/v1"}, "base_url"),
        ({"batch_size": MAX_BATCH_SIZE + 1}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"dimensions": 0}, "dimensions"),
        ({"timeout": 0}, "timeout"),
        ({"api_key": "sk-plain-string"}, "api_key"),
        ({"extra_headers": {"bad header": "x"}}, "extra_headers"),
        ({"temperature": 0.5}, "temperature"),
    ],
)
def test_invalid_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        OpenAIProvider(settings)
    assert field in str(excinfo.value)
    assert "sk-plain-string" not in str(excinfo.value)


def test_base_url_trailing_slash_is_normalised() -> None:
    assert OpenAISettings(base_url="http://127.0.0.1:8000/v1/").base_url == "http://127.0.0.1:8000/v1"


def test_openai_itself_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(MissingSecretError) as excinfo:
        OpenAIProvider({})
    assert "OPENAI_API_KEY" in str(excinfo.value)


def test_configured_through_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "openai")
    monkeypatch.setenv("HAYSWITCH_OPENAI__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HAYSWITCH_OPENAI__CHAT_MODEL", "my-model")
    monkeypatch.setenv("HAYSWITCH_OPENAI__BATCH_SIZE", "16")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = get_provider()
    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == "http://127.0.0.1:9/v1"
    assert provider.settings.chat_model == "my-model"
    assert provider.settings.batch_size == 16
    provider.close()


def test_placeholder_key_sent_when_none_configured(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    make().embed_text("x")
    headers = server.requests[0][2]
    assert headers["authorization"] == f"Bearer {NO_KEY_PLACEHOLDER}"


def test_key_organization_project_and_extra_headers_are_sent(
    make: Callable[..., OpenAIProvider], server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_GATEWAY_KEY", "key-123")
    provider = make(
        api_key="env:MY_GATEWAY_KEY",
        organization="org-1",
        project="proj-1",
        extra_headers={"X-Route": "blue"},
    )
    provider.generate("hi")
    headers = server.requests[0][2]
    assert headers["authorization"] == "Bearer key-123"
    assert headers["openai-organization"] == "org-1"
    assert headers["openai-project"] == "proj-1"
    assert headers["x-route"] == "blue"
    assert "key-123" not in repr(provider)


# --------------------------------------------------------------------------- embeddings


def test_embeddings_are_ordered_by_returned_index(make: Callable[..., OpenAIProvider]) -> None:
    result = make().embed_documents(["a", "b", "c"])
    assert [v[0] for v in result.vectors] == [0.0, 1.0, 2.0]
    assert result.model == "emb-m"


def test_dimension_is_learned_from_the_first_response(make: Callable[..., OpenAIProvider]) -> None:
    provider = make()
    assert provider.embedding_dimension is None
    provider.embed_text("a")
    assert provider.embedding_dimension == 3
    assert provider.embedding_space() == {"provider": "openai", "model": "emb-m", "dimension": 3}


def test_dimensions_setting_is_sent_and_enforced(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    provider = make(dimensions=3)
    assert provider.embedding_dimension == 3
    provider.embed_documents(["a"])
    assert server.bodies("/embeddings")[0]["dimensions"] == 3
    wrong = make(dimensions=8)
    with pytest.raises(ResponseError) as excinfo:
        wrong.embed_documents(["a"])
    assert "8-dimensional" in str(excinfo.value)


def test_batch_size_splits_requests_in_order(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    texts = [f"t{i}" for i in range(10)]
    result = make(batch_size=4).embed_documents(texts)
    assert [len(b["input"]) for b in server.bodies("/embeddings")] == [4, 4, 2]
    assert [b["input"] for b in server.bodies("/embeddings")][1] == ["t4", "t5", "t6", "t7"]
    assert len(result.vectors) == 10


def test_core_batches_at_the_declared_maximum(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    make().embed_documents([f"t{i}" for i in range(MAX_BATCH_SIZE * 2 + 1)])
    assert [len(b["input"]) for b in server.bodies("/embeddings")] == [MAX_BATCH_SIZE, MAX_BATCH_SIZE, 1]


def test_async_embeddings_match_sync(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    provider = make(batch_size=2)
    texts = ["a", "b", "c", "d", "e"]
    sync = provider.embed_documents(texts)
    asynchronous = asyncio.run(provider.aembed_documents(texts))
    assert asynchronous.vectors == sync.vectors
    assert asyncio.run(provider.aembed_text("q")).vector == provider.embed_text("q").vector


def test_query_and_document_prefixes(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    provider = make(query_prefix="query: ", document_prefix="passage: ")
    provider.embed_documents(["doc"])
    provider.embed_text("question")
    inputs = [b["input"] for b in server.bodies("/embeddings")]
    assert inputs == [["passage: doc"], ["query: question"]]
    assert provider.vector_settings_fingerprint() == {
        "dimensions": None,
        "document_prefix": "passage: ",
        "query_prefix": "query: ",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"index": 0, "embedding": [0.1]}, {"index": 0, "embedding": [0.2]}], "indices"),
        ([{"index": 0, "embedding": [0.1]}], "indices"),
        ([{"index": 0, "embedding": "AAAA"}, {"index": 1, "embedding": "AAAA"}], "base64"),
    ],
)
def test_inconsistent_embedding_responses_are_response_errors(
    server: FakeServer, make: Callable[..., OpenAIProvider], data: list[dict[str, Any]], message: str
) -> None:
    server.reply = lambda path, body: httpx2.Response(200, json={"object": "list", "model": "emb-m", "data": data})
    with pytest.raises(ResponseError) as excinfo:
        make().embed_documents(["a", "b"])
    assert message in str(excinfo.value)
    assert excinfo.value.retryable


# --------------------------------------------------------------------------- generation


def test_generate_maps_text_usage_and_finish(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    result = make().generate([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert result.text == "Hello there!"
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.total_tokens == 8
    assert result.meta["id"] == "chatcmpl-1"
    body = server.bodies("/chat/completions")[0]
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert body["model"] == "chat-m"


def test_options_are_sent_as_openai_parameters(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    options = {
        "max_tokens": 7,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "seed": 42,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "response_format": {"type": "json_object"},
    }
    server.reply = lambda path, body: httpx2.Response(200, json=completion('{"a": 1}', "stop"))
    make().generate("hi", options)
    body = server.bodies("/chat/completions")[0]
    for key in ("max_tokens", "temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
        assert body[key] == options[key]
    assert body["stop"] == ["END"]
    assert body["response_format"] == {"type": "json_object"}


def test_json_schema_response_format(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    server.reply = lambda path, body: httpx2.Response(200, json=completion('{"a": 1}', "stop"))
    make().generate("hi", {"response_format": fmt})
    assert server.bodies("/chat/completions")[0]["response_format"] == fmt


def test_max_completion_tokens_parameter(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    make(max_tokens_param="max_completion_tokens").generate("hi", {"max_tokens": 5})
    body = server.bodies("/chat/completions")[0]
    assert body["max_completion_tokens"] == 5
    assert "max_tokens" not in body


@pytest.mark.parametrize(
    "options",
    [
        {"presence_penalty": 3},
        {"frequency_penalty": -2.5},
        {"response_format": "yaml"},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "bad name!", "schema": {}}}},
        {"stop": [""]},
        {"logit_bias": {"1": 2}},
    ],
)
def test_invalid_options_fail_before_any_request(
    make: Callable[..., OpenAIProvider], server: FakeServer, options: dict[str, Any]
) -> None:
    provider = make()
    with pytest.raises(InvalidInputError) as excinfo:
        provider.generate("hi", options)
    assert next(iter(options)) in str(excinfo.value)
    with pytest.raises(InvalidInputError):
        list(provider.stream("hi", options))
    assert server.requests == []


def test_options_model_is_the_openai_one() -> None:
    assert OpenAIProvider.options_model is OpenAIGenerationOptions
    opts = OpenAIProvider.validate_options({"response_format": {"type": "text"}})
    assert isinstance(opts, OpenAIGenerationOptions)
    assert opts.response_format_param() is None  # plain text: the field is not sent


@pytest.mark.parametrize(
    ("raw", "mapped"), [("length", "length"), ("tool_calls", "tool_calls"), ("other", "unknown"), ("stop", "stop")]
)
def test_finish_reasons(make: Callable[..., OpenAIProvider], server: FakeServer, raw: str, mapped: str) -> None:
    server.reply = lambda path, body: httpx2.Response(200, json=completion("x", raw))
    result = make().generate("hi")
    assert result.finish_reason == mapped
    assert result.meta["finish_reason_raw"] == raw


def test_content_filter_in_meta_or_raised(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    server.reply = lambda path, body: httpx2.Response(200, json=completion("partial", "content_filter"))
    result = make().generate("hi")
    assert result.finish_reason == "content_filter"
    assert result.meta["content_filtered"] is True
    with pytest.raises(ContentFilteredError):
        make(content_filter="raise").generate("hi")


def test_empty_choices_is_a_response_error(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    server.reply = lambda path, body: httpx2.Response(200, json={**completion("x", "stop"), "choices": []})
    with pytest.raises(ResponseError):
        make().generate("hi")


# --------------------------------------------------------------------------- streaming


def test_stream_last_chunk_carries_finish_and_usage(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    chunks = list(make().stream("hi", {"max_tokens": 5}))
    assert [c.text for c in chunks] == ["Hello", " there", "!"]
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.finish_reason for c in chunks] == [None, None, "stop"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    body = server.bodies("/chat/completions")[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_async_stream_matches_sync(make: Callable[..., OpenAIProvider]) -> None:
    provider = make()

    async def collect() -> list[Any]:
        return [c async for c in provider.astream("hi")]

    assert asyncio.run(collect()) == list(provider.stream("hi"))


def test_stream_options_refused_then_stream_without_usage(
    make: Callable[..., OpenAIProvider], server: FakeServer
) -> None:
    def reply(path: str, body: dict[str, Any]) -> httpx2.Response:
        if "stream_options" in body:
            return httpx2.Response(400, json={"error": {"message": "Unrecognized request argument: stream_options"}})
        return sse(["ok"], usage=False)

    server.reply = reply
    provider = make()
    chunks = list(provider.stream("hi"))
    assert [c.text for c in chunks] == ["ok"]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is None
    list(provider.stream("again"))
    sent = server.bodies("/chat/completions")
    assert ["stream_options" in b for b in sent] == [True, False, False], "the refusal is remembered"


def test_stream_with_no_text_yields_one_final_chunk(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    server.reply = lambda path, body: sse([], usage=False, finish="length")
    chunks = list(make().stream("hi"))
    assert len(chunks) == 1
    assert chunks[0].text == ""
    assert chunks[0].finish_reason == "length"


def test_stream_content_filter_raise(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    server.reply = lambda path, body: sse(["bad"], usage=False, finish="content_filter")
    with pytest.raises(ContentFilteredError):
        list(make(content_filter="raise").stream("hi"))
    chunks = list(make().stream("hi"))
    assert chunks[-1].finish_reason == "content_filter"
    assert chunks[-1].meta["content_filtered"] is True


# --------------------------------------------------------------------------- model check, lifecycle


def test_check_models_lists_once_and_refuses_unknown(make: Callable[..., OpenAIProvider], server: FakeServer) -> None:
    provider = make(check_models=True)
    provider.embed_text("a")
    provider.embed_text("b")
    assert [p for p, _, _ in server.requests].count("/v1/models") == 1
    with pytest.raises(NotFoundError) as excinfo:
        provider.generate("hi")
    assert "'chat-m'" in str(excinfo.value)
    assert "emb-m" in str(excinfo.value)
    with pytest.raises(NotFoundError):
        asyncio.run(provider.agenerate("hi"))
    assert not server.bodies("/chat/completions"), "no completion was requested for an unknown model"


def test_close_is_idempotent_after_async_use(make: Callable[..., OpenAIProvider]) -> None:
    provider = make()
    asyncio.run(provider.agenerate("hi"))
    provider.close()
    provider.close()
    asyncio.run(provider.aclose())


def test_aclose_inside_event_loop(make: Callable[..., OpenAIProvider]) -> None:
    provider = make()

    async def main() -> None:
        await provider.agenerate("hi")
        await provider.aclose()
        await provider.aclose()

    asyncio.run(main())
    provider.close()


def test_plugin_module_does_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = "import sys, hayswitch_openai.plugin; print('openai' in sys.modules, 'httpx2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False False"


def test_a_plain_bad_request_does_not_disable_stream_usage(
    make: Callable[..., OpenAIProvider], server: FakeServer
) -> None:
    calls = []

    def reply(path: str, body: dict[str, Any]) -> httpx2.Response:
        calls.append(body)
        if len(calls) <= 2:  # the request itself is bad, with or without stream_options
            return httpx2.Response(400, json={"error": {"message": "temperature too high for this model"}})
        return sse(["ok"], usage="stream_options" in body)

    server.reply = reply
    provider = make()
    with pytest.raises(InvalidRequestError) as excinfo:
        list(provider.stream("hi"))
    assert "temperature too high" in str(excinfo.value)
    chunks = list(provider.stream("hi"))
    assert chunks[-1].usage is not None, "stream usage was switched off by an unrelated 400"
    assert ["stream_options" in b for b in calls] == [True, False, True]
