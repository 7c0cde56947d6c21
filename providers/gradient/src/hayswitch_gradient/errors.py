"""Translation of every ``gradientai`` / ``urllib3`` failure into the hayswitch error hierarchy.

The SDK never wraps anything (gradient-api.md §4): callers see ``ApiException`` subclasses (one
per HTTP status), client-side ``pydantic.v1`` ``ValidationError``, a bare ``StopIteration`` for an
unknown slug, and raw ``urllib3`` errors (``MaxRetryError`` when a host is unreachable, and for
non-idempotent requests ``ReadTimeoutError`` / ``ProtocolError`` directly). :func:`translate`
maps each to a :class:`hayswitch.errors.HayswitchError` whose message says what to do.

HTTP statuses are mapped by the core helper :func:`hayswitch.http.error_for_status` (Retry-After,
quota, content filter, redaction) with Gradient's own advice; this module adds only what is
Gradient-specific (the SDK's exception types, its error kinds, urllib3 transport failures).

Secrets never reach a message: the SDK's ``ApiException.__str__`` prints all response headers
and the body, so :func:`scrub_api_exception` trims the original exception to harmless headers
and redacts any secret value from its body first (with :func:`hayswitch.http.redact`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hayswitch.errors import (
    HayswitchError,
    InvalidInputError,
    NotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseError,
)
from hayswitch.http import error_for_status, redact
from hayswitch.retry import parse_retry_after

__all__ = ["Redactor", "api_error_details", "parse_retry_after", "scrub_api_exception", "translate"]

PROVIDER = "gradient"
_SAFE_HEADERS = ("retry-after", "content-type", "content-length", "date", "x-request-id", "server")
_MAX_DETAIL = 300


class Redactor:
    """Removes known secret values (token, workspace id) and credential-shaped text from a message
    (:func:`hayswitch.http.redact` bound to this provider's secrets)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        return redact(text, self._secrets)

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)


def _body_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


def api_error_details(exc: Any) -> tuple[str | None, str | None]:
    """``(type, message)`` from an API error body such as ``{"type": ..., "message": ...}``."""
    text = _body_text(exc)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None, text.strip()[:_MAX_DETAIL] or None
    if not isinstance(data, dict):
        return None, None
    kind = data.get("type") if isinstance(data.get("type"), str) else None
    message = data.get("message") if isinstance(data.get("message"), str) else None
    payload = data.get("payload")
    if kind in ("bodyParsingError", "queryOrPathParsingError") and isinstance(payload, dict):
        formatted = payload.get("formattedValidationError")
        if isinstance(formatted, str) and formatted and (not message or formatted not in message):
            message = f"{message} ({formatted})" if message else formatted
    return kind, message


def _header(exc: Any, name: str) -> str | None:
    headers = getattr(exc, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except AttributeError:
        return None
    return str(value) if value is not None else None


def scrub_api_exception(exc: Any, redact: Redactor) -> None:
    """Trim an ``ApiException`` in place so that its ``str()`` (printed in tracebacks as the
    ``__cause__`` of our error) holds no secret: keep only harmless headers and redact the body."""
    headers = getattr(exc, "headers", None)
    if headers is not None:
        try:
            kept = {k: v for k, v in headers.items() if k.lower() in _SAFE_HEADERS}
        except AttributeError:
            kept = {}
        exc.headers = kept
    body = _body_text(exc)
    if body:
        exc.body = redact(body)[:2000]


_NOT_FOUND_HINTS = {
    "unknownmodeladapter": "Check model_adapter_id (list adapters with 'hayswitch finetune list').",
    "unknownbasemodel": "Check base_model_slug / the base model id.",
    "unknownragcollection": "Check the RAG collection id.",
}
_INVALID_HINTS = {
    "modeldoesnotsupportguidance": "Remove the guidance option or use a model that supports it.",
    "modelincapableoffinetuning": "Pick a base model with the fineTune capability.",
    "ragrequiresautotemplating": "Leave auto_template unset (or true) when using RAG.",
    "nanloss": "Lower the learning rate or check the samples.",
}


def _translate_api_exception(exc: Any, *, what: str, redact: Redactor, host: str) -> HayswitchError:
    status = getattr(exc, "status", None)
    kind, message = api_error_details(exc)
    headers = {"Retry-After": value} if (value := _header(exc, "Retry-After")) else {}
    scrub_api_exception(exc, redact)
    if not isinstance(status, int) or status == 0:
        # rest.py reports SSL failures as ApiException(status=0, reason=...).
        reason = redact(str(getattr(exc, "reason", "") or ""))[:_MAX_DETAIL]
        return ProviderConnectionError(
            f"Could not establish a secure connection to {host} while {what}: {reason}. Check the host "
            "URL and its TLS certificate.",
            provider=PROVIDER,
        )
    code = (kind or "").lower()
    invalid = f"While {what}. " + _INVALID_HINTS.get(code, "")
    return error_for_status(
        status,
        body={"message": message} if message else None,
        headers=headers,
        provider=PROVIDER,
        secrets=redact.secrets,
        code="content_filter" if code == "flaggedcontent" else code or None,
        url=host,
        hints={
            401: f"While {what}: check GRADIENT_ACCESS_TOKEN (or the access_token setting) and that it belongs "
            "to this host.",
            403: f"While {what}: check GRADIENT_WORKSPACE_ID (or the workspace_id setting): it must be a workspace "
            "the token's account belongs to.",
            404: f"Not found while {what}: "
            + _NOT_FOUND_HINTS.get(
                code, "check the model slug, adapter id or host (it must end with the /api prefix)."
            ),
            429: f"While {what}: lower the concurrency or wait.",
            "content_filter": f"While {what}: rephrase it.",
            400: invalid.strip(),
            422: invalid.strip(),
            "context_length": f"While {what}: shorten the input or split it into smaller chunks.",
            **dict.fromkeys(range(500, 600), f"While {what}; this is usually temporary."),
        },
    )


def _translate_urllib3(exc: BaseException, *, what: str, host: str) -> HayswitchError | None:
    import urllib3.exceptions as u3

    reason: BaseException | None = exc
    if isinstance(exc, u3.MaxRetryError):
        reason = exc.reason if isinstance(exc.reason, BaseException) else None
    if isinstance(reason, u3.NameResolutionError):
        return ProviderConnectionError(
            f"Cannot resolve the Gradient host {host} while {what}. Check the host setting / GRADIENT_API_URL.",
            provider=PROVIDER,
        )
    if isinstance(reason, u3.NewConnectionError):
        return ProviderConnectionError(
            f"Cannot connect to the Gradient API at {host} while {what} (connection refused or unreachable). "
            "Check the host setting / GRADIENT_API_URL and that the server is running.",
            provider=PROVIDER,
        )
    if isinstance(reason, u3.ConnectTimeoutError):
        return ProviderConnectionError(
            f"Connecting to the Gradient API at {host} timed out while {what}. Check the host and your network.",
            provider=PROVIDER,
        )
    if isinstance(reason, u3.ReadTimeoutError | TimeoutError):
        return ProviderTimeoutError(
            f"The Gradient API did not answer in time while {what}. Raise the timeout setting or retry later.",
            provider=PROVIDER,
        )
    if isinstance(reason, u3.SSLError):
        return ProviderConnectionError(
            f"TLS failed talking to {host} while {what}. Check the host URL and its certificate.",
            provider=PROVIDER,
        )
    if isinstance(reason, u3.ProtocolError | ConnectionError):
        return ProviderConnectionError(
            f"The connection to the Gradient API at {host} broke while {what} (reset or closed early). "
            "This is usually temporary.",
            provider=PROVIDER,
        )
    if isinstance(exc, u3.HTTPError):
        return ProviderConnectionError(
            f"HTTP transport error talking to {host} while {what}: {type(reason or exc).__name__}.",
            provider=PROVIDER,
        )
    return None


def _validation_problems(exc: Any) -> str:
    try:
        errors = exc.errors()
    except Exception:  # noqa: BLE001 - best effort formatting
        return type(exc).__name__
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "value"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def translate(
    exc: BaseException,
    *,
    what: str,
    redact: Redactor | None = None,
    host: str = "the configured host",
    request_side: bool | None = None,
) -> HayswitchError:
    """The hayswitch error for ``exc`` raised by the SDK while doing ``what``.

    :param what: the operation in words, e.g. ``"embedding 256 texts"``.
    :param redact: removes secret values from any text taken from the server.
    :param host: the API base URL (not a secret), for connection messages.
    :param request_side: for a pydantic ``ValidationError``: True if it came from checking the
        arguments (InvalidInputError), False if from checking the response (ResponseError); None
        guesses from the model that failed (argument validators are named ``*WithHttpInfo``).
    """
    scrub = redact or Redactor()
    if isinstance(exc, HayswitchError):
        return exc
    from gradientai.openapi.client.exceptions import ApiException, ApiValueError

    if isinstance(exc, ApiException):
        return _translate_api_exception(exc, what=what, redact=scrub, host=host)
    u3_error = _translate_urllib3(exc, what=what, host=host)
    if u3_error is not None:
        return u3_error
    from pydantic.v1 import ValidationError as V1ValidationError

    if isinstance(exc, V1ValidationError):
        model = getattr(getattr(exc, "model", None), "__name__", "")
        is_request = request_side if request_side is not None else model.endswith("WithHttpInfo")
        problems = scrub(_validation_problems(exc))
        if is_request:
            return InvalidInputError(f"Invalid arguments for Gradient while {what}: {problems}.")
        return ResponseError(
            f"Gradient answered with a response that does not match the API schema while {what} ({problems}). "
            "Check that the host is a Gradient API endpoint.",
            provider=PROVIDER,
        )
    if isinstance(exc, StopIteration):
        return NotFoundError(
            f"No match while {what} (the SDK found no model with that slug). Check the slug.", provider=PROVIDER
        )
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return ResponseError(
            f"Gradient answered with malformed JSON while {what}. This is usually temporary.", provider=PROVIDER
        )
    if isinstance(exc, ApiValueError):
        return InvalidInputError(f"Invalid arguments for Gradient while {what}: {scrub(str(exc))[:_MAX_DETAIL]}")
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"Timed out while {what}.", provider=PROVIDER)
    if isinstance(exc, ConnectionError):
        return ProviderConnectionError(f"Connection failed while {what}: {type(exc).__name__}.", provider=PROVIDER)
    return ProviderError(
        f"Unexpected {type(exc).__name__} from the Gradient SDK while {what}: {scrub(str(exc))[:_MAX_DETAIL]}",
        provider=PROVIDER,
    )
