"""Translation of every ``gradientai`` / ``urllib3`` failure into the hayswitch error hierarchy.

The SDK never wraps anything (gradient-api.md §4): callers see ``ApiException`` subclasses (one
per HTTP status), client-side ``pydantic.v1`` ``ValidationError``, a bare ``StopIteration`` for an
unknown slug, and raw ``urllib3`` errors (``MaxRetryError`` when a host is unreachable, and for
non-idempotent requests ``ReadTimeoutError`` / ``ProtocolError`` directly). :func:`translate`
maps each to a :class:`hayswitch.errors.HayswitchError` whose message says what to do.

Secrets never reach a message: the SDK's ``ApiException.__str__`` prints all response headers
and the body, so :func:`scrub_api_exception` trims the original exception (kept as
``__cause__``) to harmless headers and redacts any secret value from its body first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hayswitch.errors import (
    AuthenticationError,
    ContentFilteredError,
    HayswitchError,
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

__all__ = ["Redactor", "api_error_details", "parse_retry_after", "scrub_api_exception", "translate"]

PROVIDER = "gradient"
_SAFE_HEADERS = ("retry-after", "content-type", "content-length", "date", "x-request-id", "server")
_MAX_DETAIL = 300


class Redactor:
    """Replaces known secret values (token, workspace id) in text with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


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


def _detail(message: str | None, redact: Redactor) -> str:
    if not message:
        return ""
    text = redact(" ".join(message.split()))
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return f" Server said: {text}"


def _translate_api_exception(exc: Any, *, what: str, redact: Redactor, host: str) -> HayswitchError:
    status = getattr(exc, "status", None)
    kind, message = api_error_details(exc)
    retry_after = parse_retry_after(_header(exc, "Retry-After"))
    scrub_api_exception(exc, redact)
    detail = _detail(message, redact)
    kw: dict[str, Any] = {"provider": PROVIDER, "status_code": status if isinstance(status, int) and status else None}
    if status == 401:
        return AuthenticationError(
            f"Gradient rejected the access token while {what}. Check GRADIENT_ACCESS_TOKEN (or the "
            "access_token setting) and that it belongs to this host.",
            **kw,
        )
    if status == 403:
        return PermissionDeniedError(
            f"The access token may not use this workspace ({what}). Check GRADIENT_WORKSPACE_ID (or the "
            "workspace_id setting): it must be a workspace the token's account belongs to.",
            **kw,
        )
    if status == 404:
        hint = {
            "unknownModelAdapter": "Check model_adapter_id (list adapters with 'hayswitch finetune list').",
            "unknownBaseModel": "Check base_model_slug / the base model id.",
            "unknownRagCollection": "Check the RAG collection id.",
        }.get(kind or "", "Check the model slug, adapter id or host (it must end with the /api prefix).")
        return NotFoundError(f"Not found while {what}. {hint}{detail}", **kw)
    if status == 429:
        return RateLimitError(
            f"Gradient is rate limiting ({what}). Lower the concurrency or wait.{detail}",
            retry_after=retry_after,
            **kw,
        )
    if isinstance(status, int) and 500 <= status <= 599:
        return ServerError(
            f"Gradient failed internally while {what}; this is usually temporary.{detail}",
            retryable=True,
            **kw,
        )
    if kind == "flaggedContent":
        return ContentFilteredError(f"Gradient flagged the content while {what}; rephrase it.{detail}", **kw)
    if status == 408:
        return ProviderTimeoutError(f"Gradient timed out while {what}.{detail}", **kw)
    if status == 0:
        # rest.py reports SSL failures as ApiException(status=0, reason=...).
        reason = redact(str(getattr(exc, "reason", "") or ""))[:_MAX_DETAIL]
        return ProviderConnectionError(
            f"Could not establish a secure connection to {host} while {what}: {reason}. Check the host "
            "URL and its TLS certificate.",
            provider=PROVIDER,
        )
    hints = {
        "modelDoesNotSupportGuidance": " Remove the guidance option or use a model that supports it.",
        "modelIncapableOfFineTuning": " Pick a base model with the fineTune capability.",
        "ragRequiresAutoTemplating": " Leave auto_template unset (or true) when using RAG.",
        "nanLoss": " Lower the learning rate or check the samples.",
    }
    return InvalidRequestError(
        f"Gradient rejected the request while {what}.{hints.get(kind or '', '')}{detail}",
        **kw,
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
    redact = redact or Redactor()
    if isinstance(exc, HayswitchError):
        return exc
    from gradientai.openapi.client.exceptions import ApiException, ApiValueError

    if isinstance(exc, ApiException):
        return _translate_api_exception(exc, what=what, redact=redact, host=host)
    u3_error = _translate_urllib3(exc, what=what, host=host)
    if u3_error is not None:
        return u3_error
    from pydantic.v1 import ValidationError as V1ValidationError

    if isinstance(exc, V1ValidationError):
        model = getattr(getattr(exc, "model", None), "__name__", "")
        is_request = request_side if request_side is not None else model.endswith("WithHttpInfo")
        problems = redact(_validation_problems(exc))
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
        return InvalidInputError(f"Invalid arguments for Gradient while {what}: {redact(str(exc))[:_MAX_DETAIL]}")
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"Timed out while {what}.", provider=PROVIDER)
    if isinstance(exc, ConnectionError):
        return ProviderConnectionError(f"Connection failed while {what}: {type(exc).__name__}.", provider=PROVIDER)
    return ProviderError(
        f"Unexpected {type(exc).__name__} from the Gradient SDK while {what}: {redact(str(exc))[:_MAX_DETAIL]}",
        provider=PROVIDER,
    )
