"""Hardening of the ``openai`` provider (issue 15, items 1, 2, 4 and 6).

* A key echoed by the server never survives anywhere in the exception chain (``__cause__``,
  ``__context__``, response bodies, the printed traceback).
* ``extra_headers`` values are secrets like ``api_key``: env references in ``to_dict`` / YAML,
  ``***`` in reprs, refused as plain strings for credential headers, redacted from errors.
* Malformed JSON in an HTTP 200 is a retryable :class:`ResponseError` (also in streams and under
  ``raise_on_failure=False``), never a raw ``JSONDecodeError``.
* A stream cut in the middle of the body says so, instead of "cannot reach the server".
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hayswitch import (
    AuthenticationError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ResponseError,
    RetryPolicy,
    Secret,
    ServerError,
    SettingsError,
)
from hayswitch.retry import NO_RETRY
from hayswitch_openai import OpenAIProvider

BASE = "http://openai-mock.test/v1"
KEY = "sk-live-ECHOED-KEY-7f3a9c1e5b"
HEADER_KEY = "azure-header-key-5d4c3b2a19"

Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_HARDEN_KEY", KEY)
    monkeypatch.setenv("HS_HARDEN_HEADER_KEY", HEADER_KEY)


def make(handler: Handler, retry: RetryPolicy = NO_RETRY, **settings: Any) -> OpenAIProvider:
    transport = httpx2.MockTransport(handler)
    base = {
        "base_url": BASE,
        "api_key": "env:HS_HARDEN_KEY",
        "chat_model": "chat-m",
        "embedding_model": "emb-m",
        "extra_headers": {"api-key": "env:HS_HARDEN_HEADER_KEY"},
    }
    return OpenAIProvider(
        {**base, **settings},
        retry=retry,
        http_client=httpx2.Client(transport=transport),
        async_http_client=httpx2.AsyncClient(transport=transport),
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _everything_printed(exc: BaseException) -> str:
    """Every text an error reporter could print: the traceback with its whole chain (suppressed
    context included), and the str/repr/attributes of every linked exception."""
    parts = ["".join(traceback.format_exception(exc))]
    for linked in _chain(exc):
        parts.append(str(linked))
        parts.append(repr(linked))
        parts.append(repr(getattr(linked, "__dict__", {})))
        for attr in ("body", "response", "request", "message"):
            value = getattr(linked, attr, None)
            if value is not None:
                parts.append(repr(value))
                text = getattr(value, "text", None)
                if isinstance(text, str):
                    parts.append(text)
    return "\n".join(parts)


def _echo(status: int) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        auth = request.headers.get("authorization", "")
        header = request.headers.get("api-key", "")
        body = {
            "error": {
                "message": f"Invalid key {auth} / api-key={header} (sent: {KEY})",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        return httpx2.Response(status, json=body)

    return handler


def _operations(provider: OpenAIProvider) -> list[tuple[str, Callable[[], Any]]]:
    async def astream() -> list[Any]:
        return [c async for c in provider.astream("hi")]

    return [
        ("embed", lambda: provider.embed_documents(["a"])),
        ("aembed", lambda: asyncio.run(provider.aembed_documents(["a"]))),
        ("generate", lambda: provider.generate("hi")),
        ("agenerate", lambda: asyncio.run(provider.agenerate("hi"))),
        ("stream", lambda: list(provider.stream("hi"))),
        ("astream", lambda: asyncio.run(astream())),
    ]


# --------------------------------------------------------------------------- 1. chained secrets


@pytest.mark.parametrize(
    ("status", "expected"), [(401, AuthenticationError), (400, InvalidRequestError), (500, ServerError)]
)
def test_an_echoed_key_survives_nowhere_in_the_exception_chain(status: int, expected: type[ProviderError]) -> None:
    provider = make(_echo(status))
    for operation, call in _operations(provider):
        with pytest.raises(expected) as excinfo:
            call()
        printed = _everything_printed(excinfo.value)
        assert KEY not in printed, f"{operation}: the API key leaked through the exception chain"
        assert HEADER_KEY not in printed, f"{operation}: the api-key header leaked through the exception chain"
        cause = excinfo.value.__cause__
        # Debugging information is kept: the SDK exception's type and its redacted text.
        assert cause is not None, operation
        assert "openai." in str(cause), operation
        assert excinfo.value.__suppress_context__, operation
    provider.close()


def test_logger_exception_does_not_print_the_key(caplog: pytest.LogCaptureFixture) -> None:
    provider = make(_echo(401))
    with caplog.at_level(logging.ERROR):
        try:
            provider.generate("hi")
        except AuthenticationError:
            logging.getLogger("hs-test").exception("request failed")
    assert "request failed" in caplog.text
    assert KEY not in caplog.text
    assert HEADER_KEY not in caplog.text
    provider.close()


# --------------------------------------------------------------------------- 2. extra_headers secrets


def test_extra_header_values_are_env_references_in_to_dict_yaml_and_repr() -> None:
    from haystack import Pipeline

    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    settings = {
        "base_url": BASE,
        "extra_headers": {
            "api-key": "env:HS_HARDEN_HEADER_KEY",
            "x-gateway-token": Secret.from_env_var("HS_HARDEN_HEADER_KEY"),
            "X-Route": "blue",
        },
    }
    generator = ProviderChatGenerator(provider="openai", settings=settings)
    data = generator.to_dict()
    headers = data["init_parameters"]["settings"]["extra_headers"]
    assert headers["api-key"] == "env:HS_HARDEN_HEADER_KEY"  # kept as the reference it was given as
    assert headers["x-gateway-token"] == {"type": "env_var", "env_vars": ["HS_HARDEN_HEADER_KEY"], "strict": True}
    assert headers["X-Route"] == "blue"
    pipeline = Pipeline()
    pipeline.add_component("llm", generator)
    yaml_text = pipeline.dumps()
    assert HEADER_KEY not in yaml_text
    assert "HS_HARDEN_HEADER_KEY" in yaml_text
    restored = Pipeline.loads(yaml_text).get_component("llm")
    assert isinstance(restored, ProviderChatGenerator)
    assert restored.to_dict() == data

    provider = make(_echo(200))
    assert HEADER_KEY not in repr(provider)
    assert HEADER_KEY not in repr(provider.settings)
    dumped = provider.settings.to_public_dict()
    assert dumped["extra_headers"]["api-key"]["env_vars"] == ["HS_HARDEN_HEADER_KEY"]
    provider.close()


def test_a_header_value_is_resolved_and_sent() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("api-key", ""))
        return httpx2.Response(
            200,
            json={
                "object": "list",
                "model": "emb-m",
                "data": [{"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    provider = make(handler)
    provider.embed_documents(["a"])
    assert seen == [HEADER_KEY]
    provider.close()


@pytest.mark.parametrize("header", ["api-key", "Authorization", "X-Gateway-Token", "Ocp-Apim-Subscription-Key"])
def test_a_credential_header_refuses_a_plain_string_and_never_echoes_it(header: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        OpenAIProvider({"base_url": BASE, "extra_headers": {header: HEADER_KEY}})
    message = str(excinfo.value)
    assert header in message
    assert "env:" in message
    assert HEADER_KEY not in "".join(traceback.format_exception(excinfo.value))
    assert all(HEADER_KEY not in repr(e) for e in _chain(excinfo.value))


def test_a_token_header_secret_refuses_serialisation() -> None:
    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    generator = ProviderChatGenerator(
        provider="openai", settings={"base_url": BASE, "extra_headers": {"api-key": Secret.from_token(HEADER_KEY)}}
    )
    with pytest.raises(Exception, match="token") as excinfo:
        generator.to_dict()
    assert HEADER_KEY not in str(excinfo.value)


# --------------------------------------------------------------------------- 3. refused key in __context__


def test_a_refused_plain_string_key_is_not_kept_in_the_context() -> None:
    with pytest.raises(SettingsError) as excinfo:
        OpenAIProvider({"base_url": BASE, "api_key": KEY})
    assert "api_key" in str(excinfo.value)
    assert excinfo.value.__context__ is None
    assert KEY not in _everything_printed(excinfo.value)


def test_a_refused_key_from_the_environment_is_not_kept_in_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from hayswitch import get_provider

    monkeypatch.setenv("HAYSWITCH_OPENAI__API_KEY", KEY)
    with pytest.raises(SettingsError) as excinfo:
        get_provider("openai", base_url=BASE)
    assert "HAYSWITCH_OPENAI__API_KEY" in str(excinfo.value)
    assert KEY not in _everything_printed(excinfo.value)


# --------------------------------------------------------------------------- 4. malformed JSON


def _malformed(counter: list[int]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        counter.append(1)
        return httpx2.Response(
            200, content=b'{"object": "list", "data": [', headers={"content-type": "application/json"}
        )

    return handler


def test_malformed_json_in_a_200_is_a_retried_response_error() -> None:
    sent: list[int] = []
    provider = make(_malformed(sent), retry=RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=0.0, jitter=False))
    for _operation, call in _operations(provider)[:4]:
        sent.clear()
        with pytest.raises(ResponseError) as excinfo:
            call()
        assert "not valid JSON" in str(excinfo.value)
        assert excinfo.value.retryable
        assert len(sent) == 3, "a malformed body is retried like any other malformed response"
    provider.close()


def test_malformed_json_with_raise_on_failure_false_returns_failed_documents() -> None:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    embedder = ProviderDocumentEmbedder(
        provider="openai",
        settings={"base_url": BASE},
        raise_on_failure=False,
        progress_bar=False,
        retry={"max_attempts": 1},
    )
    sent: list[int] = []
    embedder.warm_up()
    embedder._provider_instance = make(_malformed(sent))  # the mock transport
    result = embedder.run([Document(content="one"), Document(content="two")])
    assert result["documents"] == []
    assert len(result["failed_documents"]) == 2
    assert "not valid JSON" in result["failed_documents"][0].meta["embedding_error"]


def _sse(events: list[bytes]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"".join(events), headers={"content-type": "text/event-stream"})

    return handler


def _chunk(text: str) -> bytes:
    return (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"chat-m","choices":[{"index":0,'
        b'"delta":{"content":"' + text.encode() + b'"},"finish_reason":null}]}\n\n'
    )


def test_a_malformed_stream_event_is_a_response_error_not_an_empty_answer() -> None:
    provider = make(_sse([_chunk("Hello"), _chunk(" world"), b"data: {not json\n\n", b"data: [DONE]\n\n"]))
    with pytest.raises(ResponseError, match="stream event that is not valid JSON"):
        list(provider.stream("hi"))
    provider.close()
    first = make(_sse([b"data: {not json\n\n", b"data: [DONE]\n\n"]))
    with pytest.raises(ResponseError, match="not valid JSON"):
        list(first.stream("hi"))  # also when the bad event comes first (before any text)
    first.close()


def test_a_malformed_stream_event_fails_the_streaming_generator() -> None:
    from haystack.dataclasses import ChatMessage

    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    received: list[str] = []
    generator = ProviderChatGenerator(
        provider="openai", settings={"base_url": BASE}, streaming_callback=lambda c: received.append(c.content)
    )
    generator.warm_up()
    generator._provider_instance = make(_sse([_chunk("Hi"), b"data: {oops\n\n"]))
    with pytest.raises(ResponseError):
        generator.run([ChatMessage.from_user("hi")])


# --------------------------------------------------------------------------- 6. stream cut mid-body


class _CutStream(httpx2.SyncByteStream):
    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from self.events
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete message body")


def test_a_stream_cut_mid_body_says_so() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, stream=_CutStream([_chunk("Hello"), _chunk(" wor")]), headers={"content-type": "text/event-stream"}
        )

    provider = make(handler)
    chunks: list[str] = []

    def consume() -> None:
        for chunk in provider.stream("hi"):
            chunks.append(chunk.text)

    with pytest.raises(ProviderConnectionError) as excinfo:
        consume()
    message = str(excinfo.value)
    assert "Cannot reach" not in message
    assert "closed before the streamed answer was complete" in message
    assert "incomplete" in message
    assert "retry" in message
    assert chunks == ["Hello"]  # one chunk of look-ahead: what was complete was delivered
    provider.close()


def test_a_refused_connection_still_says_cannot_reach() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused")

    provider = make(handler)
    with pytest.raises(ProviderConnectionError, match="Cannot reach"):
        provider.generate("hi")
    provider.close()


# --------------------------------------------------------------------------- 4. through the CLI


class _Server:
    """An OpenAI-compatible server on loopback: valid embeddings (unless ``bad_embeddings``),
    chat completions whose body (or stream event) is malformed JSON."""

    def __init__(self, bad_embeddings: bool = False) -> None:
        import http.server
        import json
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
                if self.path.endswith("/embeddings") and not bad_embeddings:
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [
                        {"object": "embedding", "index": i, "embedding": [1.0, float(len(t) % 7), 0.5]}
                        for i, t in enumerate(inputs)
                    ]
                    self._send(json.dumps({"object": "list", "model": "m", "data": data}).encode(), "application/json")
                elif body.get("stream"):
                    outer.streams += 1
                    self._send(_chunk("Partial") + _chunk(" answer") + b"data: {broken json\n\n", "text/event-stream")
                else:
                    self._send(b'{"id": "x", "choices": [', "application/json")

            def _send(self, payload: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.streams = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("hayswitch.retry._sleep", lambda seconds: None)
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "openai")
    monkeypatch.setenv("HAYSWITCH_OPENAI__EMBEDDING_MODEL", "m")
    monkeypatch.setenv("HAYSWITCH_OPENAI__CHAT_MODEL", "m")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Setup\n\nInstall hayswitch with pip.\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("stream", [True, False])
def test_ask_with_a_malformed_answer_fails_with_exit_code_4(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    from typer.testing import CliRunner

    from hayswitch.cli import build_app

    server = _Server()
    monkeypatch.setenv("HAYSWITCH_OPENAI__BASE_URL", server.base_url)
    try:
        store = str(cli_env / "idx" / "store.json")
        indexed = CliRunner().invoke(build_app(), ["index", str(cli_env / "docs"), "--store", store, "-q"])
        assert indexed.exit_code == 0, indexed.output
        result = CliRunner().invoke(
            build_app(), ["ask", "How do I install it?", "--store", store, *(["--stream"] if stream else [])]
        )
    finally:
        server.close()
    assert result.exit_code == 4, result.output  # not 0 with an empty answer
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.output
    # With --stream the answer is printed once it has been checked against its evidence (grounded
    # answers), so nothing was shown before the failure and no partial answer reaches stdout.
    assert "not valid JSON" not in result.stdout


def test_index_with_malformed_embeddings_is_one_line_with_exit_code_4(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from hayswitch.cli import build_app

    server = _Server(bad_embeddings=True)
    monkeypatch.setenv("HAYSWITCH_OPENAI__BASE_URL", server.base_url)
    try:
        result = CliRunner().invoke(
            build_app(), ["index", str(cli_env / "docs"), "--store", str(cli_env / "s.json"), "-q", "--no-cache"]
        )
    finally:
        server.close()
    assert result.exit_code == 4, result.output
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.output
