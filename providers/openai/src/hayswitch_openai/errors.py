"""Translation of ``openai`` SDK (and transport) exceptions into the hayswitch error hierarchy.

The SDK is never imported at module level: :func:`translate_error` imports it lazily, so the
plugin module stays light. HTTP statuses are mapped by the core helper
:func:`hayswitch.http.error_for_status` (Retry-After, context length, quota, content filter),
and credentials are redacted by :func:`hayswitch.http.redact`; this module only adds the
OpenAI-specific advice and the SDK's transport exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hayswitch.errors import (
    ContextLengthError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseError,
)
from hayswitch.http import error_for_status, error_in_stream, redact
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
        response = getattr(exc, "response", None)
        return error_for_status(
            exc.status_code,
            body=exc.body if exc.body is not None else getattr(exc, "message", None),
            headers=getattr(response, "headers", None),
            provider=name,
            secrets=secrets,
            model=model,
            url=base_url,
            code=getattr(exc, "code", None),
            hints={
                401: "Set OPENAI_API_KEY (or the 'api_key' setting, e.g. 'env:MY_KEY_VARIABLE') to a valid key.",
                403: "Check the organization/project of the key and its access to the model.",
                404: "Check the model name (list them with GET <base_url>/models) and that 'base_url' ends with '/v1'.",
            },
        )
    if isinstance(exc, openai.APIError):
        # An error event inside a stream, or another API error without an HTTP status.
        body: Any = exc.body if exc.body is not None else getattr(exc, "message", None) or str(exc)
        return error_in_stream({"error": body} if not isinstance(body, dict) else body, provider=name, secrets=secrets)
    return ProviderError(
        redact(f"Unexpected error from the OpenAI SDK: {type(exc).__name__}: {exc}", secrets), provider=name
    )
