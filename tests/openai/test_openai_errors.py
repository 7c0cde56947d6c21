"""Error translation of the ``openai`` provider: every SDK failure becomes the right hayswitch error.

The server side is an ``httpx2.MockTransport`` handed to the SDK through ``http_client=``, so the
real SDK parses real HTTP responses (status, headers, JSON error bodies) and raises its own
exceptions, which the provider must translate.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from hayswitch import (
    AuthenticationError,
    ContentFilteredError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseError,
    RetryPolicy,
    Secret,
    ServerError,
)
from hayswitch.retry import NO_RETRY
from hayswitch_openai import OpenAIProvider
from hayswitch_openai.errors import ContextLengthError, parse_retry_after, redact

BASE = "http://openai-mock.test/v1"
SECRET = "sk-test-SECRET-0123456789abcdef"

Handler = Callable[[httpx2.Request], httpx2.Response]


def make(handler: Handler, retry: RetryPolicy = NO_RETRY, **settings: Any) -> OpenAIProvider:
    transport = httpx2.MockTransport(handler)
    base = {"base_url": BASE, "api_key": "env:HS_OPENAI_TEST_KEY", "chat_model": "chat-m", "embedding_model": "emb-m"}
    return OpenAIProvider(
        {**base, **settings},
        retry=retry,
        http_client=httpx2.Client(transport=transport),
        async_http_client=httpx2.AsyncClient(transport=transport),
    )


def error_body(message: str, code: str | None = None, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json=body if body is not None else error_body("boom"), headers=headers)

    return handler


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_OPENAI_TEST_KEY", SECRET)


def all_operations(provider: OpenAIProvider) -> list[tuple[str, Callable[[], Any]]]:
    async def astream() -> list[Any]:
        return [c async for c in provider.astream("hi")]

    return [
        ("embed_documents", lambda: provider.embed_documents(["a", "b"])),
        ("embed_text", lambda: provider.embed_text("a")),
        ("aembed_documents", lambda: asyncio.run(provider.aembed_documents(["a"]))),
        ("generate", lambda: provider.generate("hi")),
        ("agenerate", lambda: asyncio.run(provider.agenerate("hi"))),
        ("stream", lambda: list(provider.stream("hi"))),
        ("astream", lambda: asyncio.run(astream())),
    ]


@pytest.mark.parametrize(
    ("status", "body", "expected", "retryable"),
    [
        (401, error_body(f"Incorrect API key provided: {SECRET}.", "invalid_api_key"), AuthenticationError, False),
        (
            403,
            error_body("No access to model", kind="permission_error"),
            PermissionDeniedError,
            False,
        ),
        (404, error_body("The model `emb-m` does not exist", "model_not_found"), NotFoundError, False),
        (400, error_body("'temperature' must be a number"), InvalidRequestError, False),
        (422, {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}, InvalidRequestError, False),
        (500, error_body("internal", kind="server_error"), ServerError, True),
        (502, {"error": "bad gateway"}, ServerError, True),
        (503, error_body("overloaded", kind="server_error"), ServerError, True),
        (408, error_body("request timeout"), ProviderTimeoutError, True),
        (409, error_body("conflict"), ProviderError, True),
    ],
)
def test_status_codes_translate_for_every_operation(
    status: int, body: Any, expected: type[ProviderError], retryable: bool
) -> None:
    provider = make(respond(status, body))
    for operation, call in all_operations(provider):
        with pytest.raises(expected) as excinfo:
            call()
        err = excinfo.value
        assert err.status_code == status, operation
        assert err.provider == "openai"
        assert err.retryable is retryable, operation
        assert SECRET not in str(err), f"{operation}: the API key leaked into the message"
        assert "sk-test" not in str(err)
        assert err.__cause__ is not None, "translated errors keep a redacted stand-in of the SDK exception"
    provider.close()


def test_model_not_found_names_the_model_and_what_to_do() -> None:
    provider = make(respond(404, error_body("The model `chat-m` does not exist", "model_not_found")))
    with pytest.raises(NotFoundError) as excinfo:
        provider.generate("hi")
    message = str(excinfo.value)
    assert "'chat-m'" in message
    assert "/models" in message
    assert "does not exist" in message  # the server's own words are kept


def test_authentication_message_says_what_to_set() -> None:
    # OpenAI echoes a partly masked key; our own key is redacted exactly, other key-like text too.
    provider = make(respond(401, error_body(f"Incorrect API key provided: {SECRET}; also sk-proj-ab12****wxyz")))
    with pytest.raises(AuthenticationError) as excinfo:
        provider.embed_text("x")
    message = str(excinfo.value)
    assert "OPENAI_API_KEY" in message
    assert "Incorrect API key provided: ***; also sk-***" in message
    assert "ab12" not in message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2.5", "retry-after-ms": "250"}, 0.25),
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_rate_limit_carries_retry_after(headers: dict[str, str], expected: float | None) -> None:
    provider = make(respond(429, error_body("Rate limit reached", "rate_limit_exceeded"), headers))
    with pytest.raises(RateLimitError) as excinfo:
        provider.embed_documents(["a"])
    assert excinfo.value.retry_after == expected
    assert excinfo.value.retryable is True
    assert excinfo.value.status_code == 429


def test_retry_after_http_date() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    value = parse_retry_after({"Retry-After": date}, now=now)
    assert value is not None
    assert 28 <= value <= 31
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now - 30, usegmt=True)}, now=now) == 0.0


def test_insufficient_quota_is_not_retried() -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(429, json=error_body("You exceeded your current quota", "insufficient_quota"))

    provider = make(handler, retry=RetryPolicy(max_attempts=4, initial_wait=0, max_wait=0))
    with pytest.raises(RateLimitError) as excinfo:
        provider.generate("hi")
    assert excinfo.value.retryable is False
    assert "quota" in str(excinfo.value)
    assert len(calls) == 1


def test_retries_happen_once_in_hayswitch_policy_not_in_the_sdk() -> None:
    """max_retries=0 in the SDK: N policy attempts are exactly N HTTP requests."""
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.headers.get("x-stainless-retry-count"))
        return httpx2.Response(503, json=error_body("overloaded", kind="server_error"))

    provider = make(handler, retry=RetryPolicy(max_attempts=3, initial_wait=0, max_wait=0))
    with pytest.raises(ServerError):
        provider.embed_documents(["a"])
    assert len(calls) == 3
    assert set(calls) == {"0"}, "the SDK retried on its own"


def test_rate_limit_then_success_is_retried_by_the_policy() -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx2.Response(429, json=error_body("slow down"), headers={"retry-after-ms": "1"})
        return httpx2.Response(200, json=embedding_body([[1.0, 0.0]]))

    provider = make(handler, retry=RetryPolicy(max_attempts=3, initial_wait=0, max_wait=0))
    assert provider.embed_text("a").vector == [1.0, 0.0]
    assert len(calls) == 2


def test_context_length_is_invalid_input_and_invalid_request() -> None:
    body = error_body(
        "This model's maximum context length is 8192 tokens, however you requested 9000 tokens",
        "context_length_exceeded",
    )
    provider = make(respond(400, body))
    with pytest.raises(ContextLengthError) as excinfo:
        provider.embed_documents(["long"])
    assert isinstance(excinfo.value, InvalidInputError)
    assert isinstance(excinfo.value, InvalidRequestError)
    assert excinfo.value.retryable is False
    # llama.cpp's wording, without the OpenAI error code
    provider = make(respond(400, {"error": {"message": "Requested tokens (3000) exceed context window of 2048"}}))
    with pytest.raises(ContextLengthError):
        provider.generate("hi")


def test_content_policy_error_code_is_content_filtered() -> None:
    provider = make(respond(400, error_body("Your request was rejected", "content_policy_violation")))
    with pytest.raises(ContentFilteredError):
        provider.generate("hi")


def test_timeout_translates_to_provider_timeout() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    provider = make(handler)
    for operation, call in all_operations(provider):
        with pytest.raises(ProviderTimeoutError) as excinfo:
            call()
        assert excinfo.value.retryable, operation
        assert "timeout" in str(excinfo.value)


def test_connection_error_translates_and_names_the_server() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    provider = make(handler)
    for operation, call in all_operations(provider):
        with pytest.raises(ProviderConnectionError) as excinfo:
            call()
        assert BASE in str(excinfo.value), operation
        assert excinfo.value.retryable


def test_connection_error_is_retried_by_the_policy() -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        raise httpx2.ConnectError("refused", request=request)

    provider = make(handler, retry=RetryPolicy(max_attempts=2, initial_wait=0, max_wait=0))
    with pytest.raises(ProviderConnectionError):
        provider.generate("hi")
    assert len(calls) == 2


def test_stream_error_after_first_chunk_is_translated() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        def body() -> Any:
            yield b'data: {"id":"1","object":"chat.completion.chunk","created":1,"model":"chat-m",'
            yield b'"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
            yield b'data: {"id":"1","object":"chat.completion.chunk","created":1,"model":"chat-m",'
            yield b'"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}\n\n'
            raise httpx2.RemoteProtocolError("peer closed connection without sending complete message body")

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    provider = make(handler)
    stream = provider.stream("hi")
    assert next(stream).text == "Hel"  # one chunk of look-ahead: 'lo' is pending when the stream breaks
    with pytest.raises(ProviderConnectionError):
        next(stream)


def test_error_event_inside_stream_is_a_server_error() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        payload = b'data: {"error": {"message": "model crashed", "type": "server_error"}}\n\n'
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=payload)

    provider = make(handler)
    with pytest.raises(ServerError) as excinfo:
        list(provider.stream("hi"))
    assert "model crashed" in str(excinfo.value)


def test_malformed_json_response_is_a_response_error() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"object": "list", "data": [{"index": 0, "embedding": [[0.1, 0.2]]}]})

    provider = make(handler)
    with pytest.raises(ResponseError) as excinfo:
        provider.embed_documents(["a"])
    assert "pooling" in str(excinfo.value)


def test_redact() -> None:
    assert redact(f"key {SECRET} here", [SECRET]) == "key *** here"
    assert redact("Incorrect API key provided: sk-proj-abcdEFGH1234") == "Incorrect API key provided: sk-***"
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"


def test_extra_header_values_never_appear_in_errors() -> None:
    token = "gateway-token-9f8e7d6c"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(403, json=error_body(f"header x-gw-token={token} not allowed"))

    provider = make(handler, extra_headers={"x-gw-token": Secret.from_token(token)})
    with pytest.raises(PermissionDeniedError) as excinfo:
        provider.generate("hi")
    assert token not in str(excinfo.value)


def embedding_body(vectors: list[list[float]], order: list[int] | None = None) -> dict[str, Any]:
    indices = order if order is not None else list(range(len(vectors)))
    return {
        "object": "list",
        "model": "emb-m",
        "data": [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in indices],
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }


def test_request_body_is_json_with_float_encoding() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=embedding_body([[0.5, 0.5]]))

    make(handler).embed_text("q")
    assert seen == [{"model": "emb-m", "input": ["q"], "encoding_format": "float"}]
