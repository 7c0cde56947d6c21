"""The one retry policy every provider call goes through (built on tenacity).

Retries happen on :class:`~hayswitch.errors.ProviderError` whose ``retryable`` flag is set (rate
limits, timeouts, connection errors, 5xx, malformed responses), with exponential backoff and
full jitter, honouring a backend's ``Retry-After``. Authentication, permission, not-found,
invalid-request and content-filter errors are never retried, whatever their flag says, and
neither is anything that is not a :class:`~hayswitch.errors.ProviderError` (configuration and
input errors, programming errors). Provider SDKs must have their own retries switched off so
nothing retries twice.

Two budgets bound a call: ``max_attempts`` (attempts including the first) and
``max_total_wait`` (seconds since the first attempt; a retry whose wait would cross it is not
made, so a ``Retry-After`` longer than the remaining budget fails at once instead of sleeping).

The policy is a frozen pydantic model, so it round-trips through ``model_dump()`` /
``model_validate()`` and can be written in pipeline YAML as a plain mapping::

    retry:
      max_attempts: 6
      initial_wait: 0.5
      max_wait: 30
      max_total_wait: 300

Attempt counts can be observed without changing any signature: inside ``with track_retries() as
stats:`` every policy call made by this thread or task (and by threads started with
:func:`contextvars.copy_context`) adds to ``stats``.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from hayswitch.errors import (
    AuthenticationError,
    ContentFilteredError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    SettingsError,
)

__all__ = ["NEVER_RETRIED", "NO_RETRY", "RetryPolicy", "RetryStats", "current_retry_stats", "track_retries"]

logger = logging.getLogger("hayswitch.retry")

T = TypeVar("T")

NEVER_RETRIED: tuple[type[ProviderError], ...] = (
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    InvalidRequestError,
    ContentFilteredError,
)
"""Provider errors that are never retried, even if a provider marked them retryable: another
attempt with the same credentials and the same request cannot succeed."""


def is_retryable(exc: BaseException) -> bool:
    """Whether the retry policy may make another attempt after ``exc``."""
    if not isinstance(exc, ProviderError) or isinstance(exc, NEVER_RETRIED):
        return False
    return bool(exc.retryable)


# --------------------------------------------------------------------------- statistics


@dataclass
class RetryStats:
    """Counters of the policy calls made while :func:`track_retries` is active (thread-safe).

    :ivar calls: policy calls (one per batch / generation / stream opening).
    :ivar attempts: attempts made, including first attempts.
    :ivar retries: attempts beyond the first.
    :ivar failures: calls that failed after their last attempt.
    :ivar waited: seconds slept between attempts.
    :ivar errors: retried or final errors by class name.
    """

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    failures: int = 0
    waited: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _record_attempt(self, first: bool) -> None:
        with self._lock:
            self.attempts += 1
            if first:
                self.calls += 1
            else:
                self.retries += 1

    def _record_error(self, exc: BaseException, wait: float | None) -> None:
        with self._lock:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            if wait is None:
                self.failures += 1
            else:
                self.waited += wait

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counters (for component ``meta``)."""
        with self._lock:
            return {
                "calls": self.calls,
                "attempts": self.attempts,
                "retries": self.retries,
                "failures": self.failures,
                "waited": round(self.waited, 3),
                "errors": dict(self.errors),
            }


_STATS: contextvars.ContextVar[tuple[RetryStats, ...]] = contextvars.ContextVar("hayswitch_retry_stats", default=())


@contextmanager
def track_retries(stats: RetryStats | None = None) -> Iterator[RetryStats]:
    """Collect :class:`RetryStats` for every policy call made inside the block.

    Nested blocks each see the calls made inside them. Worker threads see the block when they
    run in a copied context (``contextvars.copy_context().run``, as ``asyncio.to_thread`` does).
    """
    stats = stats if stats is not None else RetryStats()
    token = _STATS.set((*_STATS.get(), stats))
    try:
        yield stats
    finally:
        _STATS.reset(token)


def current_retry_stats() -> tuple[RetryStats, ...]:
    """The statistics collectors active in this context (innermost last)."""
    return _STATS.get()


def _record_attempt(first: bool) -> None:
    for stats in _STATS.get():
        stats._record_attempt(first)


def _record_error(exc: BaseException, wait: float | None) -> None:
    for stats in _STATS.get():
        stats._record_error(exc, wait)


# --------------------------------------------------------------------------- the policy


def parse_retry_after(value: str | Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait, from a ``Retry-After`` value or from response headers.

    Given headers, ``retry-after-ms`` (OpenAI-style) wins over ``Retry-After``. A value is either
    delta-seconds or an HTTP date. Provider adapters use this to fill
    :attr:`~hayswitch.errors.RateLimitError.retry_after`.

    :param value: a header value, a mapping of headers (any case), or None.
    :param now: the current time (epoch seconds) for HTTP dates; defaults to ``time.time()``.
    :returns: a non-negative number of seconds, or None when nothing usable was given.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        lowered = {str(k).lower(): str(v) for k, v in value.items()}
        raw_ms = lowered.get("retry-after-ms")
        if raw_ms:
            try:
                millis = float(raw_ms)
            except ValueError:
                millis = -1.0
            if math.isfinite(millis) and millis >= 0:
                return millis / 1000.0
        found = lowered.get("retry-after")
        if not found:
            return None
        value = found
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _sleep(seconds: float) -> None:
    """Where retries wait (sync). An indirection so tests can patch ``hayswitch.retry._sleep``
    instead of the process-wide ``time.sleep`` that servers in other threads also use."""
    time.sleep(seconds)


async def _asleep(seconds: float) -> None:
    """Where retries wait (async); see :func:`_sleep`."""
    await asyncio.sleep(seconds)


class RetryPolicy(BaseModel):
    """How failed provider calls are retried.

    :param max_attempts: total attempts including the first (1 disables retries).
    :param initial_wait: base of the exponential backoff, in seconds (wait ``n`` is drawn from
        ``[0, initial_wait * 2**n]`` with jitter, or is exactly that without).
    :param max_wait: cap of a single backoff wait, in seconds (a longer ``Retry-After`` is still
        honoured).
    :param max_total_wait: give up when a retry would start later than this many seconds after
        the first attempt.
    :param respect_retry_after: wait at least the backend's ``Retry-After`` on 429.
    :param jitter: randomise waits ("full jitter") so concurrent clients do not retry in lockstep.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=5, ge=1, le=100)
    initial_wait: float = Field(default=0.5, ge=0)
    max_wait: float = Field(default=20.0, ge=0)
    max_total_wait: float = Field(default=120.0, gt=0)
    respect_retry_after: bool = True
    jitter: bool = True

    @classmethod
    def coerce(cls, value: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy | None:
        """Accept what a component or a pipeline YAML may hold: a policy, a mapping of its
        fields, or None (the provider's default policy).

        :raises SettingsError: naming each invalid field.
        """
        if value is None or isinstance(value, RetryPolicy):
            return value
        if not isinstance(value, Mapping):
            raise SettingsError(
                f"'retry' must be a RetryPolicy or a mapping of its fields, got {type(value).__name__}."
            )
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            from hayswitch.errors import format_validation_error

            allowed = ", ".join(cls.model_fields)
            raise SettingsError(
                f"Invalid retry policy (fields: {allowed}).", [f"retry.{p}" for p in format_validation_error(exc)]
            ) from None

    def backoff(self, attempt: int) -> float:
        """The backoff wait after failed attempt number ``attempt`` (1-based), before Retry-After."""
        if self.initial_wait == 0:
            return 0.0
        ceiling = min(self.initial_wait * 2.0 ** max(0, min(attempt - 1, 60)), self.max_wait)
        return random.uniform(0, ceiling) if self.jitter else ceiling

    def _wait(self, state: RetryCallState) -> float:
        backoff = self.backoff(state.attempt_number)
        exc = state.outcome.exception() if state.outcome else None
        if self.respect_retry_after and isinstance(exc, RateLimitError) and exc.retry_after is not None:
            floor = float(exc.retry_after)
            if self.jitter and floor > 0:
                floor += random.uniform(0, 0.1 * floor)  # spread clients released at the same instant
            return max(floor, backoff)
        return backoff

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if exc is not None:
            _record_error(exc, wait)
        logger.warning(
            "attempt %d of %d failed (%s: %s); retrying in %.2fs",
            state.attempt_number,
            self.max_attempts,
            type(exc).__name__,
            str(exc),  # a string, not the exception: log records must not keep responses (and sockets) alive
            wait,
        )

    def _kwargs(self) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(is_retryable),
            "stop": stop_after_attempt(self.max_attempts) | stop_before_delay(self.max_total_wait),
            "wait": self._wait,
            "reraise": True,
            "before_sleep": self._before_sleep,
        }

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under this policy; the last error is re-raised unchanged."""
        first = True
        try:
            if self.max_attempts == 1:
                _record_attempt(True)
                return fn()
            for attempt in Retrying(sleep=lambda seconds: _sleep(seconds), **self._kwargs()):
                with attempt:
                    _record_attempt(first)
                    first = False
                    return fn()
        except BaseException as exc:
            _record_error(exc, None)
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Async twin of :meth:`call`."""
        first = True
        try:
            if self.max_attempts == 1:
                _record_attempt(True)
                return await fn()
            async for attempt in AsyncRetrying(sleep=lambda seconds: _asleep(seconds), **self._kwargs()):
                with attempt:
                    _record_attempt(first)
                    first = False
                    return await fn()
        except BaseException as exc:
            _record_error(exc, None)
            raise
        raise AssertionError("unreachable")  # pragma: no cover


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that never retries."""
