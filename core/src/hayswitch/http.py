"""Helpers every HTTP provider needs: status-to-error mapping, secret redaction, finish reasons.

A provider that talks HTTP calls :func:`error_for_status` with what the server answered and
raises the result; it does not write its own mapping or redaction::

    from hayswitch.http import error_for_status, normalise_finish_reason

    response = client.post(url, json=payload)
    if response.status_code >= 400:
        raise error_for_status(
            response.status_code,
            body=response.content,
            headers=response.headers,
            provider=self.name,
            secrets=[self._api_key],
            model=self.settings.model,
        ) from None  # never chain the HTTP library's exception: it may hold the request headers

=======  ===========================================================================
status   error
=======  ===========================================================================
400/422  :class:`~hayswitch.errors.InvalidRequestError`, or
         :class:`~hayswitch.errors.ContextLengthError` when the server says the input
         is longer than the context window
401      :class:`~hayswitch.errors.AuthenticationError`
403      :class:`~hayswitch.errors.PermissionDeniedError`
404      :class:`~hayswitch.errors.NotFoundError` (naming the model when given)
408      :class:`~hayswitch.errors.ProviderTimeoutError` (retryable)
409      :class:`~hayswitch.errors.ProviderError`, retryable
413      :class:`~hayswitch.errors.ContextLengthError`
429      :class:`~hayswitch.errors.RateLimitError` with ``retry_after`` from
         ``Retry-After`` / ``retry-after-ms`` (not retryable when the quota is spent)
5xx      :class:`~hayswitch.errors.ServerError` (retryable)
other    :class:`~hayswitch.errors.ProviderError`
=======  ===========================================================================

A content-filter code (``content_filter``, ``content_policy_violation``) gives
:class:`~hayswitch.errors.ContentFilteredError` whatever the status. Every message carries the
server's own explanation (from a JSON body when there is one), cut to 300 characters and with
credentials redacted (:func:`redact`).

This module imports neither Haystack nor an HTTP library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hayswitch.errors import (
    AuthenticationError,
    ContentFilteredError,
    ContextLengthError,
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
from hayswitch.types import FinishReason

__all__ = [
    "CONTENT_FILTER_CODES",
    "FINISH_REASONS",
    "error_for_status",
    "error_in_stream",
    "json_object",
    "malformed_response",
    "normalise_finish_reason",
    "redact",
    "server_message",
    "transport_error",
]

_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*.]{4,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9_\-.~+/=*]{4,}")
_KEY_PARAM = re.compile(r"(?i)([?&](?:api[-_]?key|key|token|access_token)=)[^&\s\"']+")
_MAX_DETAIL = 300
CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "content_filtered"})
_CONTEXT_WORDS = ("context length", "context window", "context_length", "too many tokens", "maximum context")

#: Every raw finish reason seen in the wild, mapped to hayswitch's :data:`~hayswitch.types.FinishReason`.
FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "end": "stop",
    "complete": "stop",
    "completed": "stop",
    "finished": "stop",
    "length": "length",
    "max_tokens": "length",
    "max_length": "length",
    "max_output_tokens": "length",
    "token_limit": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocked": "content_filter",
    "refusal": "content_filter",
    "error": "error",
    "abort": "error",
    "cancelled": "error",
}


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove credentials from ``text``: the given secret values, ``Bearer``/``Basic`` tokens,
    key-shaped strings (``sk-...``) and ``?api_key=...`` query values.

    Secrets shorter than 4 characters are not searched for (they would mangle ordinary text).
    """
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    text = _KEY_PARAM.sub(lambda m: m.group(1) + "***", text)
    return _KEY_LIKE.sub(lambda m: m.group(1) + "-***", text)


def _as_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf-8", errors="replace")
    return str(body)


def _parse(body: Any) -> Any:
    if isinstance(body, Mapping | list):
        return body
    text = _as_text(body).strip()
    if not text or text[0] not in "{[":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _message_and_code(parsed: Any) -> tuple[str | None, str | None]:
    """The message and code of the common JSON error shapes: ``{"error": {"message", "code"}}``,
    ``{"error": "..."}``, ``{"message": ...}``, ``{"detail": ...}`` (FastAPI), ``{"errors": [...]}``."""
    if isinstance(parsed, list) and parsed:
        return _message_and_code(parsed[0])
    if not isinstance(parsed, Mapping):
        return None, None
    code = parsed.get("code") or parsed.get("type")
    for key in ("error", "message", "detail", "errors", "error_message"):
        value = parsed.get(key)
        if isinstance(value, Mapping | list):
            message, inner = _message_and_code(value)
            if message:
                return message, str(inner or code or "") or None
        elif value and isinstance(value, str | int | float):
            return str(value), str(code) if code else None
    return None, str(code) if code else None


def server_message(body: Any, secrets: Iterable[str | None] = ()) -> str:
    """The server's own explanation in an error body (JSON or text): one line, at most 300
    characters, credentials redacted; ``""`` when the body says nothing."""
    message, _ = _message_and_code(_parse(body))
    text = message if message is not None else _as_text(body)
    text = " ".join(text.split())
    if text.lstrip().startswith("<"):  # an HTML error page says nothing useful
        text = ""
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return redact(text, secrets)


def error_for_status(
    status: int,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    provider: str,
    secrets: Iterable[str | None] = (),
    model: str | None = None,
    url: str | None = None,
    code: str | None = None,
    hints: Mapping[int | str, str] | None = None,
) -> ProviderError:
    """The hayswitch error for an HTTP error response (see the table in this module's docstring).

    Raise it ``from None``: the HTTP library's exception may carry request headers (credentials).

    :param status: the HTTP status (>= 400).
    :param body: the response body (bytes, text, or already-parsed JSON).
    :param headers: the response headers (for ``Retry-After``).
    :param provider: the provider's registry name (prefixes the message).
    :param secrets: credential values to redact from the server's message.
    :param model: the requested model, named in not-found errors.
    :param url: the server address, named in messages (must not contain a secret).
    :param code: the server's error code, when the caller already parsed it.
    :param hints: provider-specific advice replacing the generic one, keyed by status (``401``)
        or by ``"context_length"`` / ``"quota"`` / ``"content_filter"`` -- e.g. ``{401: "Set
        ACME_API_KEY to a valid key."}``.
    """
    secrets = [s for s in secrets if s]
    _, parsed_code = _message_and_code(_parse(body))
    raw_code = (code or parsed_code or "").lower()
    detail = server_message(body, secrets)
    said = f" Server said: {detail}" if detail else ""
    where = f" at {redact(url, secrets)}" if url else ""
    lowered = detail.lower()
    hints = hints or {}
    kwargs: dict[str, Any] = {"provider": provider, "status_code": status}

    def build(cls: type[ProviderError], summary: str, advice: str, key: int | str, **extra: Any) -> ProviderError:
        text = hints.get(key, advice)
        return cls(f"{summary}{' ' + text if text else ''}{said}", **kwargs, **extra)

    if raw_code in CONTENT_FILTER_CODES:
        return build(ContentFilteredError, "The server's content filter refused the request.", "", "content_filter")
    if status == 401:
        return build(
            AuthenticationError,
            f"The server{where} rejected the credentials.",
            "Set a valid API key (the provider's secret setting or its environment variable).",
            401,
        )
    if status == 403:
        return build(
            PermissionDeniedError,
            "The credentials are valid but not allowed to do this.",
            "Check the account, project or model access of the key.",
            403,
        )
    if status == 404 or raw_code == "model_not_found":
        what = f"model {model!r}" if model else "the requested resource"
        return build(
            NotFoundError, f"The server{where} does not know {what}.", "Check the model name and the base URL.", 404
        )
    if status == 408:
        return build(ProviderTimeoutError, "The server timed out the request.", "Retrying may succeed.", 408)
    if status == 409:
        return build(ProviderError, "The server reported a conflict.", "Retrying may succeed.", 409, retryable=True)
    if status == 429:
        quota = raw_code in {"insufficient_quota", "quota_exceeded"}
        if quota:
            return build(
                RateLimitError,
                f"Rate limited{where}.",
                "The account is out of quota: add credit or use another key (retrying does not help).",
                "quota",
                retry_after=parse_retry_after(dict(headers) if headers is not None else None),
                retryable=False,
            )
        return build(
            RateLimitError,
            f"Rate limited{where}.",
            "Lower the concurrency or batch size, or ask for a higher limit.",
            429,
            retry_after=parse_retry_after(dict(headers) if headers is not None else None),
        )
    if status >= 500:
        return build(ServerError, f"The server{where} failed internally.", "Retrying may succeed.", status)
    if status == 413 or raw_code == "context_length_exceeded" or any(w in lowered for w in _CONTEXT_WORDS):
        return build(
            ContextLengthError,
            "The input is longer than the model's context window:",
            "shorten it, split documents into smaller chunks, or lower max_tokens.",
            "context_length",
        )
    if status in (400, 422):
        return build(
            InvalidRequestError,
            "The server rejected the request as invalid:",
            "check the model name and the options.",
            status,
        )
    return build(ProviderError, f"The server{where} answered with an unexpected error status.", "", status)


def error_in_stream(
    event: Any, *, provider: str, secrets: Iterable[str | None] = (), status: int | None = None
) -> ProviderError:
    """The error for an error event inside a stream (after the HTTP 200): a
    :class:`~hayswitch.errors.ServerError` (or the status-specific error when the event has one)
    with the server's message, redacted."""
    parsed = _parse(event) if not isinstance(event, Mapping) else event
    inner = parsed.get("error") if isinstance(parsed, Mapping) else None
    event_status = inner.get("status") if isinstance(inner, Mapping) else None
    if status is None and isinstance(event_status, int) and event_status >= 400:
        status = event_status
    if status is not None and status >= 400:
        return error_for_status(
            status, body=parsed if parsed is not None else event, provider=provider, secrets=secrets
        )
    detail = server_message(parsed if parsed is not None else event, secrets) or "no detail"
    return ServerError(f"The server reported an error in the middle of the stream: {detail}", provider=provider)


def malformed_response(what: str, *, provider: str, status: int | None = None) -> ResponseError:
    """The error for a response that is not what the API promises (bad JSON, missing fields)."""
    return ResponseError(f"The server returned a malformed response: {what}.", provider=provider, status_code=status)


def json_object(body: bytes | str, *, provider: str, what: str = "the response") -> dict[str, Any]:
    """``body`` parsed as a JSON object, or a :class:`~hayswitch.errors.ResponseError` (retryable)
    saying it was not one -- the malformed-body check every HTTP provider needs."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        raise malformed_response(f"{what} is not JSON", provider=provider) from None
    if not isinstance(data, dict):
        raise malformed_response(f"{what} is a JSON {type(data).__name__}, not an object", provider=provider)
    return data


def normalise_finish_reason(raw: str | None, *, default: FinishReason = "unknown") -> FinishReason:
    """Map a backend's finish reason (``"stop"``, ``"max_tokens"``, ``"end_turn"``, ``"SAFETY"``, ...)
    to a :data:`~hayswitch.types.FinishReason`: ``stop`` (natural end or stop sequence),
    ``length`` (``max_tokens`` reached), ``tool_calls`` (the reply is a tool call), ``content_filter``,
    ``error``, or ``default`` (``"unknown"``)
    for None and anything unrecognised."""
    if raw is None:
        return default
    return FINISH_REASONS.get(str(raw).strip().lower(), default)


def transport_error(
    exc: BaseException,
    *,
    provider: str,
    url: str,
    timeout: float | None = None,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The error for a request that got no HTTP response: a
    :class:`~hayswitch.errors.ProviderTimeoutError` for timeouts (``TimeoutError`` and the HTTP
    libraries' ``*Timeout*`` exceptions), else a :class:`~hayswitch.errors.ProviderConnectionError`
    naming the address and the cause (redacted). Both are retryable. Raise it ``from None``.

    :param url: the server address (must not contain a secret; it is redacted anyway).
    :param timeout: the configured timeout in seconds, named in the timeout message.
    """
    secrets = [s for s in secrets if s]
    where = redact(url, secrets)
    # The exception itself, or what it wraps (urllib's URLError.reason, an SDK's __cause__).
    causes = [c for c in (exc, getattr(exc, "reason", None), exc.__cause__, exc.__context__) if c is not None]
    names = [cls.__name__ for c in causes for cls in type(c).__mro__]
    if any(isinstance(c, TimeoutError) for c in causes) or any("Timeout" in name for name in names):
        limit = f" within {timeout:g}s" if timeout is not None else " in time"
        return ProviderTimeoutError(
            f"{where} did not answer{limit}; raise the 'timeout' setting or lower the batch size.", provider=provider
        )
    reason = redact(f"{type(exc).__name__}: {exc}".strip().rstrip(":"), secrets)[:_MAX_DETAIL]
    return ProviderConnectionError(
        f"Cannot reach {where} ({reason}); check the base URL and that the server is running.", provider=provider
    )
