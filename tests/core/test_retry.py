"""The retry policy as providers use it: retryable vs not, Retry-After, attempt and time budgets.
Sleeps are recorded instead of slept, so nothing here waits."""

from __future__ import annotations

import asyncio

import pytest

import hayswitch.retry
from hayswitch import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderTimeoutError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    get_provider,
)

FAST = RetryPolicy(max_attempts=4, initial_wait=0.001, max_wait=0.002, max_total_wait=30, jitter=False)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []

    async def asleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(hayswitch.retry, "_sleep", recorded.append)
    monkeypatch.setattr(hayswitch.retry, "_asleep", asleep)
    return recorded


@pytest.mark.parametrize("kind", ["server", "timeout", "connection", "rate_limit", "response"])
def test_retryable_failures_are_retried(kind: str, sleeps: list[float]) -> None:
    provider = get_provider("fake", retry=FAST, fail_first=2, fail_with=kind)
    assert provider.embed_text("hello").dimension == 64
    assert provider.requests == 3  # type: ignore[attr-defined]
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("kind", "error"), [("auth", AuthenticationError), ("invalid", InvalidRequestError), ("not_found", NotFoundError)]
)
def test_non_retryable_failures_fail_at_once(kind: str, error: type[Exception], sleeps: list[float]) -> None:
    provider = get_provider("fake", retry=FAST, fail_first=1, fail_with=kind)
    with pytest.raises(error):
        provider.generate("hello")
    assert provider.requests == 1  # type: ignore[attr-defined]
    assert sleeps == []


def test_max_attempts_bounds_the_calls(sleeps: list[float]) -> None:
    provider = get_provider("fake", retry=FAST, fail_first=10, fail_with="server")
    with pytest.raises(ServerError, match="HTTP 503"):
        provider.embed_documents(["a"])
    assert provider.requests == 4  # type: ignore[attr-defined]
    assert len(sleeps) == 3


def test_retry_after_is_honoured(sleeps: list[float]) -> None:
    provider = get_provider("fake", retry=FAST, fail_first=1, fail_with="rate_limit", retry_after=7)
    provider.generate("hello")
    assert sleeps == [7.0]


def test_retry_after_beyond_the_total_budget_fails_at_once(sleeps: list[float]) -> None:
    policy = FAST.model_copy(update={"max_total_wait": 5.0})
    provider = get_provider("fake", retry=policy, fail_first=1, fail_with="rate_limit", retry_after=60)
    with pytest.raises(RateLimitError, match="Retry after 60s"):
        provider.generate("hello")
    assert sleeps == []
    assert provider.requests == 1  # type: ignore[attr-defined]


def test_async_calls_use_the_same_policy(sleeps: list[float]) -> None:
    provider = get_provider("fake", retry=FAST, fail_first=2, fail_with="timeout")
    result = asyncio.run(provider.agenerate("hello"))
    assert result.text == "Echo: hello"
    assert provider.requests == 3  # type: ignore[attr-defined]


def test_only_failures_before_the_first_chunk_are_retried(sleeps: list[float]) -> None:
    provider = get_provider("fake", retry=FAST, fail_first=1, fail_with="server")
    assert "".join(c.text for c in provider.stream("one two")) == "Echo: one two"
    assert len(sleeps) == 1


def test_error_classes_declare_retryability() -> None:
    assert ServerError("x").retryable
    assert ProviderTimeoutError("x").retryable
    assert not AuthenticationError("x").retryable
    assert not ServerError("x", retryable=False).retryable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:20 GMT", 20.0),  # an HTTP date, 20 s after `now`
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after-ms": "250", "Retry-After": "7"}, 0.25),  # the millisecond header wins
        ({"retry-after-ms": "bogus", "retry-after": "3"}, 3.0),
        ({"content-type": "application/json"}, None),
    ],
)
def test_parse_retry_after(value: object, expected: float | None) -> None:
    from email.utils import parsedate_to_datetime

    now = parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert hayswitch.retry.parse_retry_after(value, now=now) == expected  # type: ignore[arg-type]
