"""The retry policy: what is retried, how long it waits, the budgets, and serialisation."""

from __future__ import annotations

import json
from collections.abc import Callable

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
    ServerError,
    SettingsError,
    get_provider,
)
from hayswitch.retry import NEVER_RETRIED, NO_RETRY, is_retryable, track_retries

FAST = RetryPolicy(max_attempts=4, initial_wait=0, max_wait=0)


def failing(errors: list[BaseException], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A callable raising ``errors`` one by one, then returning ``result``; counts its calls."""
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


@pytest.mark.parametrize(
    "exc",
    [
        RateLimitError("slow down", status_code=429),
        ProviderTimeoutError("too slow"),
        ProviderConnectionError("reset"),
        ServerError("boom", status_code=503),
        ResponseError("bad json"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_errors_are_retried(exc: ProviderError) -> None:
    fn, calls = failing([exc, exc])
    with track_retries() as stats:
        assert FAST.call(fn) == "ok"
    assert calls[0] == 3
    assert stats.as_dict() | {"waited": 0} == {
        "calls": 1,
        "attempts": 3,
        "retries": 2,
        "failures": 0,
        "waited": 0,
        "errors": {type(exc).__name__: 2},
    }


@pytest.mark.parametrize("cls", NEVER_RETRIED, ids=lambda c: c.__name__)
def test_auth_and_invalid_request_errors_are_never_retried_even_if_flagged(cls: type[ProviderError]) -> None:
    exc = cls("no", retryable=True)
    assert not is_retryable(exc)
    fn, calls = failing([exc])
    with pytest.raises(cls):
        FAST.call(fn)
    assert calls[0] == 1


@pytest.mark.parametrize("exc", [InvalidInputError("empty"), ValueError("bug"), KeyError("x")])
def test_non_provider_errors_are_not_retried(exc: BaseException) -> None:
    fn, calls = failing([exc])
    with pytest.raises(type(exc)):
        FAST.call(fn)
    assert calls[0] == 1


def test_a_provider_error_marked_not_retryable_is_raised_at_once() -> None:
    fn, calls = failing([ServerError("permanent", retryable=False)])
    with pytest.raises(ServerError):
        FAST.call(fn)
    assert calls[0] == 1


def test_max_attempts_then_the_last_error_unchanged() -> None:
    errors: list[BaseException] = [ServerError(f"boom {i}") for i in range(10)]
    last = errors[3]
    fn, calls = failing(errors)
    with track_retries() as stats, pytest.raises(ServerError) as info:
        FAST.call(fn)
    assert info.value is last
    assert calls[0] == FAST.max_attempts
    assert stats.failures == 1
    assert stats.retries == FAST.max_attempts - 1


def test_retry_after_is_honoured() -> None:
    policy = RetryPolicy(max_attempts=3, initial_wait=0, jitter=False)
    fn, calls = failing([RateLimitError("429", retry_after=0.05), RateLimitError("429", retry_after=0.05)])
    with track_retries() as stats:
        assert policy.call(fn) == "ok"
    assert calls[0] == 3
    assert stats.waited == pytest.approx(0.1)


def test_retry_after_with_jitter_waits_at_least_the_asked_time() -> None:
    policy = RetryPolicy(max_attempts=2, initial_wait=0)
    fn, _ = failing([RateLimitError("429", retry_after=0.02)])
    with track_retries() as stats:
        policy.call(fn)
    assert 0.02 <= stats.waited <= 0.022 + 1e-9


def test_retry_after_can_be_ignored() -> None:
    policy = RetryPolicy(max_attempts=2, initial_wait=0, respect_retry_after=False)
    fn, _ = failing([RateLimitError("429", retry_after=30)])
    with track_retries() as stats:
        assert policy.call(fn) == "ok"
    assert stats.waited == 0


def test_a_wait_beyond_the_total_budget_is_not_made() -> None:
    """A Retry-After longer than max_total_wait fails at once instead of sleeping past the budget."""
    policy = RetryPolicy(max_attempts=5, initial_wait=0, max_total_wait=1.0)
    fn, calls = failing([RateLimitError("429", retry_after=60)])
    with track_retries() as stats, pytest.raises(RateLimitError):
        policy.call(fn)
    assert calls[0] == 1
    assert stats.retries == 0
    assert stats.waited == 0


def test_exponential_backoff_with_and_without_jitter() -> None:
    exact = RetryPolicy(initial_wait=0.5, max_wait=3, jitter=False)
    assert [exact.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = RetryPolicy(initial_wait=0.5, max_wait=3)
    for n in range(1, 8):
        ceiling = exact.backoff(n)
        samples = [jittered.backoff(n) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 100  # actually random
    assert RetryPolicy(initial_wait=0).backoff(5) == 0
    assert exact.backoff(10_000) == 3  # no overflow


def test_no_retry_policy_makes_one_attempt() -> None:
    fn, calls = failing([ServerError("x")])
    with pytest.raises(ServerError):
        NO_RETRY.call(fn)
    assert calls[0] == 1


async def test_async_retries_and_stats() -> None:
    errors: list[BaseException] = [ProviderConnectionError("reset"), ServerError("503")]

    async def fn() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    with track_retries() as stats:
        assert await FAST.acall(fn) == "ok"
    assert stats.attempts == 3
    assert stats.retries == 2


async def test_async_never_retries_auth() -> None:
    calls = [0]

    async def fn() -> str:
        calls[0] += 1
        raise AuthenticationError("bad key", status_code=401)

    with pytest.raises(AuthenticationError):
        await FAST.acall(fn)
    assert calls[0] == 1


def test_nested_trackers_each_see_their_calls() -> None:
    with track_retries() as outer:
        FAST.call(failing([ServerError("x")])[0])
        with track_retries() as inner:
            FAST.call(failing([])[0])
    assert outer.calls == 2
    assert outer.attempts == 3
    assert inner.calls == 1
    assert inner.attempts == 1


# --------------------------------------------------------------------------- serialisation


def test_policy_round_trips_through_model_dump_and_json() -> None:
    policy = RetryPolicy(max_attempts=7, initial_wait=0.25, max_wait=9, max_total_wait=60, jitter=False)
    assert RetryPolicy.model_validate(policy.model_dump()) == policy
    assert RetryPolicy.model_validate(json.loads(json.dumps(policy.model_dump(mode="json")))) == policy


def test_coerce_accepts_policy_mapping_or_none() -> None:
    policy = RetryPolicy(max_attempts=2)
    assert RetryPolicy.coerce(policy) is policy
    assert RetryPolicy.coerce(None) is None
    assert RetryPolicy.coerce({"max_attempts": 2}) == policy


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"max_atempts": 3}, "retry.max_atempts: unknown setting"),
        ({"initial_wait": -1}, "retry.initial_wait"),
        ("fast", "must be a RetryPolicy or a mapping"),
    ],
)
def test_coerce_rejects_invalid_values_clearly(value: object, fragment: str) -> None:
    with pytest.raises(SettingsError, match="retry") as info:
        RetryPolicy.coerce(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- through a provider


def test_provider_retries_injected_faults_per_batch() -> None:
    provider = get_provider("fake", fail_first=2, fail_with="rate_limit", retry_after=0, retry=FAST)
    result = provider.embed_documents(["a", "b", "c"])
    assert len(result.vectors) == 3
    assert provider.requests == 3  # type: ignore[attr-defined]


def test_provider_wrong_vector_count_is_retried_then_typed() -> None:
    provider = get_provider("fake", fail_first=1, fail_with="wrong_count", retry=FAST)
    assert len(provider.embed_documents(["a", "b"]).vectors) == 2
    broken = get_provider("fake", fail_on=["poison"], fail_with="wrong_count", retry=FAST)
    with pytest.raises(ResponseError, match="Expected 2 vectors"):
        broken.embed_documents(["poison", "ok"])
    assert broken.requests == FAST.max_attempts  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["auth", "invalid", "not_found"])
def test_provider_does_not_retry_permanent_faults(kind: str) -> None:
    provider = get_provider("fake", fail_first=1, fail_with=kind, retry=FAST)
    with pytest.raises(ProviderError):
        provider.generate("hello")
    assert provider.requests == 1  # type: ignore[attr-defined]


def test_stream_opening_is_retried() -> None:
    provider = get_provider("fake", fail_first=2, fail_with="connection", retry=FAST)
    assert "".join(c.text for c in provider.stream("hello world")) == "Echo: hello world"
    assert provider.requests == 3  # type: ignore[attr-defined]


def test_content_filtered_is_not_retryable() -> None:
    assert not is_retryable(ContentFilteredError("flagged"))
    assert not is_retryable(PermissionDeniedError("no", retryable=True))
    assert not is_retryable(NotFoundError("gone"))
    assert not is_retryable(InvalidRequestError("bad", retryable=True))
