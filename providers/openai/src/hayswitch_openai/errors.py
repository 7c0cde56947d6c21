"""Translation of ``openai`` SDK (and transport) exceptions into the hayswitch error hierarchy.

The SDK is never imported at module level: :func:`translate_error` imports it lazily, so the
plugin module stays light. Messages never contain a credential: the resolved API key and anything
shaped like an OpenAI key (``sk-...``) are redacted from server-provided text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from hayswitch.errors import (
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
    ServerError,
)
from hayswitch.retry import parse_retry_after

__all__ = [
    "PROVIDER_NAME",
    "ContextLengthError",
    "parse_retry_after",
    "redact",
    "transport_errors",
    "translate_error",
]

PROVIDER_NAME = "openai"
_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*.]{4,}")
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-.~+/=*]+")
_MAX_DETAIL = 300
_CONTENT_FILTER_CODES = {"content_filter", "content_policy_violation", "content_filtered"}


class ContextLengthError(InvalidRequestError, InvalidInputError):
    """The input is longer than the model's context window (the server said so with HTTP 400).

    It is both an :class:`~hayswitch.errors.InvalidRequestError` (the server refused the request)
    and an :class:`~hayswitch.errors.InvalidInputError` (the input is what must change: shorten or
    split it), so code that handles either catches it. Never retried.
    """


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove credentials from ``text``: the given secret values, bearer tokens and key-like
    strings (``sk-...``)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _BEARER.sub("Bearer ***", text)
    return _KEY_LIKE.sub(lambda m: m.group(1) + "-***", text)


def _server_detail(exc: Any, secrets: Iterable[str | None]) -> str:
    """The server's own error message (from the JSON body when there is one), redacted and cut."""
    body = getattr(exc, "body", None)
    detail: Any = None
    if isinstance(body, Mapping):
        detail = body.get("message") or body.get("detail") or body.get("error")
        if isinstance(detail, Mapping):
            detail = detail.get("message")
    if not detail:
        detail = getattr(exc, "message", None) or str(exc)
    text = " ".join(str(detail).split())
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return redact(text, secrets)


def _cut_mid_response(cause: BaseException) -> bool:
    """Whether a transport error happened after the server had started answering (a body cut
    short or a broken read), as opposed to never reaching it (refused, DNS, TLS)."""
    try:
        import httpx2 as http
    except ImportError:  # pragma: no cover - older openai SDKs
        import httpx as http  # type: ignore[no-redef]
    return isinstance(cause, http.RemoteProtocolError | http.ReadError)


def transport_errors() -> tuple[type[BaseException], type[BaseException]]:
    """The HTTP library's (timeout, transport) exception base classes, as raised while reading a
    streamed response (the SDK does not wrap those). ``openai`` 3.x uses ``httpx2``, older
    releases ``httpx``."""
    try:
        import httpx2 as http
    except ImportError:  # pragma: no cover - older openai SDKs
        import httpx as http  # type: ignore[no-redef]
    return http.TimeoutException, http.TransportError


def translate_error(
    exc: BaseException,
    *,
    base_url: str,
    model: str | None = None,
    secrets: Iterable[str | None] = (),
    streaming: bool = False,
) -> ProviderError:
    """Map an ``openai`` SDK exception (or an HTTP transport exception, or a malformed JSON body)
    to a hayswitch error.

    :param exc: the exception raised by the SDK.
    :param base_url: the server address (named in connection errors; never contains a secret).
    :param model: the model that was requested (named in not-found errors).
    :param secrets: credential values to redact from server messages.
    :param streaming: ``exc`` was raised while reading an open stream (the server was reached).
    :returns: the error to raise. Never chain ``exc`` itself (its text or body may echo a secret):
        see :func:`hayswitch.errors.with_sanitised_cause`.
    """
    import json

    import openai

    secrets = list(secrets)
    name = PROVIDER_NAME
    timeout_exc, transport_exc = transport_errors()

    if isinstance(exc, json.JSONDecodeError):
        where = "a stream event" if streaming else "a response"
        return ResponseError(
            f"The server at {base_url} sent {where} that is not valid JSON ({exc.msg} at position {exc.pos}). "
            "Retrying may help; if it persists, check that 'base_url' points at an OpenAI-compatible API "
            "(not a proxy's error page) and look at the server's logs.",
            provider=name,
        )
    if isinstance(exc, openai.APITimeoutError | timeout_exc):
        if streaming:
            return ProviderTimeoutError(
                f"The server at {base_url} stopped sending the streamed answer for longer than the 'timeout' "
                "setting; the answer is incomplete. Raise 'timeout' or retry.",
                provider=name,
            )
        return ProviderTimeoutError(
            f"The request to {base_url} timed out. Raise the 'timeout' setting, lower the batch size or "
            "max_tokens, or scale the server out.",
            provider=name,
        )
    if isinstance(exc, openai.APIConnectionError | transport_exc):
        cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) and exc.__cause__ else exc
        reason = redact(f"{type(cause).__name__}: {cause}".strip().rstrip(":"), secrets)
        if streaming or _cut_mid_response(cause):
            what = "the streamed answer" if streaming else "the response"
            return ProviderConnectionError(
                f"The connection to {base_url} was closed before {what} was complete ({reason}); what arrived "
                "is incomplete. The server was reachable: retry, and if it keeps happening look "
                "for a crash or a proxy timeout in the server's logs.",
                provider=name,
            )
        return ProviderConnectionError(
            f"Cannot reach the OpenAI-compatible server at {base_url} ({reason}). Check that the server is "
            "running and that 'base_url' is right (it usually ends with '/v1').",
            provider=name,
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return ResponseError(
            f"The server at {base_url} returned a response that does not match the OpenAI API schema.",
            provider=name,
            status_code=exc.status_code,
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _server_detail(exc, secrets)
        code = (getattr(exc, "code", None) or "").lower()
        said = f" Server said: {detail}" if detail else ""
        if status == 401 or isinstance(exc, openai.AuthenticationError):
            return AuthenticationError(
                "The server rejected the credentials. Set OPENAI_API_KEY (or the 'api_key' setting, e.g. "
                f"'env:MY_KEY_VARIABLE') to a valid key for {base_url}.{said}",
                provider=name,
                status_code=status,
            )
        if status == 403 or isinstance(exc, openai.PermissionDeniedError):
            return PermissionDeniedError(
                "The key is valid but not allowed to do this (wrong organization/project, or no access to "
                f"the model).{said}",
                provider=name,
                status_code=status,
            )
        if status == 404 or isinstance(exc, openai.NotFoundError) or code == "model_not_found":
            what = f"model {model!r}" if model else "the requested resource"
            return NotFoundError(
                f"The server at {base_url} does not know {what}. Check the model name (list them with "
                f"GET <base_url>/models) and that 'base_url' ends with '/v1'.{said}",
                provider=name,
                status_code=status,
            )
        if status == 429 or isinstance(exc, openai.RateLimitError):
            headers = getattr(exc.response, "headers", None)
            retry_after = parse_retry_after(headers)
            quota = code == "insufficient_quota"
            hint = (
                " The account is out of quota: add credit or use another key (retrying does not help)."
                if quota
                else " Lower the concurrency or batch size, or ask for a higher limit."
            )
            return RateLimitError(
                f"Rate limited by {base_url}.{hint}{said}",
                retry_after=retry_after,
                provider=name,
                status_code=status,
                retryable=not quota,
            )
        if code in _CONTENT_FILTER_CODES:
            return ContentFilteredError(
                f"The server's content filter refused the request.{said}", provider=name, status_code=status
            )
        if status == 408:
            return ProviderTimeoutError(f"The server timed out the request.{said}", provider=name, status_code=status)
        if status == 409:
            return ProviderError(
                f"The server reported a conflict; retrying may succeed.{said}",
                provider=name,
                status_code=status,
                retryable=True,
            )
        if status >= 500:
            return ServerError(
                f"The server at {base_url} failed internally; retrying may succeed.{said}",
                provider=name,
                status_code=status,
            )
        lowered = detail.lower()
        if code == "context_length_exceeded" or "context length" in lowered or "context window" in lowered:
            return ContextLengthError(
                "The input is longer than the model's context window: shorten it, split documents into smaller "
                f"chunks, or lower max_tokens.{said}",
                provider=name,
                status_code=status,
            )
        return InvalidRequestError(
            f"The server rejected the request as invalid: check the model name and the options.{said}",
            provider=name,
            status_code=status,
        )
    if isinstance(exc, openai.APIError):
        # An error event inside a stream, or another API error without an HTTP status.
        detail = _server_detail(exc, secrets)
        return ServerError(f"The server reported an error: {detail}", provider=name)
    return ProviderError(
        redact(f"Unexpected error from the OpenAI SDK: {type(exc).__name__}: {exc}", secrets), provider=name
    )
