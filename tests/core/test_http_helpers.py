"""The core helpers an HTTP provider uses instead of writing its own: status -> typed error (with
Retry-After, context length, quota, content filter), redaction, transport errors, errors inside a
stream, finish-reason normalisation; and their public exports."""

from __future__ import annotations

import typing
import urllib.error
from typing import Any

import pytest

import hayswitch
from hayswitch import (
    AuthenticationError,
    ContentFilteredError,
    ContextLengthError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from hayswitch.http import error_for_status, error_in_stream, normalise_finish_reason, redact, transport_error
from hayswitch.types import FinishReason

KEY = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    ("status", "body", "expected", "retryable"),
    [
        (400, {"error": {"message": "bad option"}}, InvalidRequestError, False),
        (422, {"detail": [{"msg": "field required"}]}, InvalidRequestError, False),
        (401, {"error": "invalid key"}, AuthenticationError, False),
        (403, b'{"message": "no access"}', PermissionDeniedError, False),
        (404, "not here", NotFoundError, False),
        (408, None, ProviderTimeoutError, True),
        (409, None, ProviderError, True),
        (413, None, ContextLengthError, False),
        (429, {"error": {"message": "slow down"}}, RateLimitError, True),
        (500, "<html>oops</html>", ServerError, True),
        (503, {"error": {"message": "overloaded"}}, ServerError, True),
        (418, None, ProviderError, False),
    ],
)
def test_status_codes_map_to_typed_errors(
    status: int, body: Any, expected: type[ProviderError], retryable: bool
) -> None:
    err = error_for_status(status, body=body, provider="acme")
    assert type(err) is expected
    assert err.status_code == status
    assert err.provider == "acme"
    assert err.retryable is retryable
    assert str(err).startswith("[acme] ")
    assert err.__cause__ is None


def test_retry_after_seconds_ms_and_quota() -> None:
    assert error_for_status(429, headers={"Retry-After": "7"}, provider="p").retry_after == 7.0  # type: ignore[attr-defined]
    assert error_for_status(429, headers={"retry-after-ms": "1500"}, provider="p").retry_after == 1.5  # type: ignore[attr-defined]
    assert error_for_status(429, provider="p").retry_after is None  # type: ignore[attr-defined]
    quota = error_for_status(429, body={"error": {"code": "insufficient_quota", "message": "out"}}, provider="p")
    assert quota.retryable is False
    assert "quota" in str(quota)


def test_context_length_is_both_invalid_request_and_invalid_input() -> None:
    body = {
        "error": {"message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}
    }
    err = error_for_status(400, body=body, provider="p")
    assert isinstance(err, ContextLengthError)
    assert isinstance(err, InvalidRequestError)
    assert isinstance(err, InvalidInputError)
    assert err.retryable is False
    assert "context window" in str(err)
    assert hayswitch.ContextLengthError is ContextLengthError


def test_content_filter_code_wins_over_status() -> None:
    err = error_for_status(400, body={"error": {"code": "content_filter", "message": "flagged"}}, provider="p")
    assert isinstance(err, ContentFilteredError)


def test_not_found_names_the_model_and_hints_replace_the_advice() -> None:
    err = error_for_status(
        404, body={"error": {"message": "no such model"}}, provider="p", model="m-1", hints={404: "Run acme models."}
    )
    assert "'m-1'" in str(err)
    assert "Run acme models." in str(err)
    assert "no such model" in str(err)  # the server's own words are kept


def test_secrets_are_redacted_from_server_messages_and_urls() -> None:
    body = {"error": {"message": f"key {KEY} rejected; Authorization: Bearer abc.def-123; other sk-proj-ab12****wxyz"}}
    err = error_for_status(401, body=body, provider="p", secrets=[KEY], url=f"https://x.example/v1?api_key={KEY}")
    text = str(err)
    assert KEY not in text
    assert "abc.def-123" not in text
    assert "ab12" not in text
    assert "Bearer ***" in text


def test_long_server_messages_are_cut() -> None:
    err = error_for_status(400, body={"error": {"message": "x" * 5000}}, provider="p")
    assert len(str(err)) < 600


def test_redact() -> None:
    assert redact(f"key {KEY} here", [KEY]) == "key *** here"
    assert redact("Incorrect API key provided: sk-proj-abcdEFGH1234") == "Incorrect API key provided: sk-***"
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
    assert redact("GET /v1/x?key=abcdef&x=1") == "GET /v1/x?key=***&x=1"
    assert redact("short abc", ["abc"]) == "short abc"  # secrets under 4 characters are not searched for


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError("timed out"), ProviderTimeoutError),
        (urllib.error.URLError(TimeoutError("timed out")), ProviderTimeoutError),
        (type("ReadTimeout", (Exception,), {})("slow"), ProviderTimeoutError),
        (ConnectionRefusedError(111, "refused"), ProviderConnectionError),
        (urllib.error.URLError("Name or service not known"), ProviderConnectionError),
    ],
)
def test_transport_errors(exc: BaseException, expected: type[ProviderError]) -> None:
    err = transport_error(exc, provider="p", url="http://127.0.0.1:9/v1", timeout=3)
    assert type(err) is expected
    assert err.retryable is True
    assert "127.0.0.1:9" in str(err)


def test_transport_error_redacts_the_cause() -> None:
    err = transport_error(OSError(f"proxy said no to {KEY}"), provider="p", url="http://h/v1", secrets=[KEY])
    assert KEY not in str(err)


def test_error_inside_a_stream() -> None:
    err = error_in_stream({"error": {"message": f"model crashed ({KEY})"}}, provider="p", secrets=[KEY])
    assert isinstance(err, ServerError)
    assert "model crashed" in str(err)
    assert KEY not in str(err)
    limited = error_in_stream({"error": {"message": "slow", "status": 429}}, provider="p")
    assert isinstance(limited, RateLimitError)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("stop", "stop"),
        ("STOP", "stop"),
        ("end_turn", "stop"),
        ("eos", "stop"),
        ("length", "length"),
        ("max_tokens", "length"),
        ("MAX_TOKENS", "length"),
        ("content_filter", "content_filter"),
        ("SAFETY", "content_filter"),
        ("error", "error"),
        (None, "unknown"),
        ("something-new", "unknown"),
    ],
)
def test_finish_reasons_are_normalised(raw: str | None, expected: str) -> None:
    assert normalise_finish_reason(raw) == expected
    assert normalise_finish_reason(raw) in typing.get_args(FinishReason)


def test_public_exports() -> None:
    for name in ("FinishReason", "parse_retry_after", "error_for_status", "normalise_finish_reason", "redact"):
        assert name in hayswitch.__all__
        assert getattr(hayswitch, name) is not None
    assert hayswitch.parse_retry_after("5") == 5.0
