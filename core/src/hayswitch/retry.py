"""The one retry policy every provider call goes through (built on tenacity).

Retries happen on :class:`~hayswitch.errors.ProviderError` whose ``retryable`` flag is set (rate
limits, timeouts, connection errors, 5xx, malformed responses), with exponential backoff and
full jitter, honouring a backend's ``Retry-After``. Authentication and invalid-request errors
are never retried. Provider SDKs must have their own retries switched off so nothing retries
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from hayswitch.errors import ProviderError, RateLimitError

__all__ = ["RetryPolicy", "NO_RETRY"]

logger = logging.getLogger("hayswitch.retry")

T = TypeVar("T")


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


class RetryPolicy(BaseModel):
    """How failed provider calls are retried.

    :param max_attempts: total attempts including the first (1 disables retries).
    :param initial_wait: base of the exponential backoff, in seconds.
    :param max_wait: cap of a single wait, in seconds.
    :param max_total_wait: give up once this much time (seconds) has passed since the first attempt.
    :param respect_retry_after: wait at least the backend's ``Retry-After`` on 429.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=5, ge=1, le=100)
    initial_wait: float = Field(default=0.5, ge=0)
    max_wait: float = Field(default=20.0, ge=0)
    max_total_wait: float = Field(default=120.0, gt=0)
    respect_retry_after: bool = True

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=self.initial_wait, max=self.max_wait)(state)
        exc = state.outcome.exception() if state.outcome else None
        if self.respect_retry_after and isinstance(exc, RateLimitError) and exc.retry_after is not None:
            return max(float(exc.retry_after), backoff if self.initial_wait else 0.0)
        return float(backoff)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "attempt %d failed (%s: %s); retrying in %.2fs",
            state.attempt_number,
            type(exc).__name__,
            exc,
            wait,
        )

    def _kwargs(self) -> dict[str, object]:
        return {
            "retry": retry_if_exception(_is_retryable),
            "stop": stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total_wait),
            "wait": self._wait,
            "reraise": True,
            "before_sleep": self._before_sleep,
        }

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under this policy; the last error is re-raised unchanged."""
        if self.max_attempts == 1:
            return fn()
        for attempt in Retrying(**self._kwargs()):  # type: ignore[arg-type]
            with attempt:
                return fn()
        raise AssertionError("unreachable")  # pragma: no cover

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Async twin of :meth:`call`."""
        if self.max_attempts == 1:
            return await fn()
        async for attempt in AsyncRetrying(**self._kwargs()):  # type: ignore[arg-type]
            with attempt:
                return await fn()
        raise AssertionError("unreachable")  # pragma: no cover


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that never retries."""
