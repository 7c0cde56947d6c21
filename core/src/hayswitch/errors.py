"""The hayswitch error hierarchy.

Every error hayswitch raises is a :class:`HayswitchError`. There are three branches:

* :class:`ConfigurationError`: something about the setup is wrong (unknown provider, invalid
  settings, missing secret, a plugin that failed to load, an operation the provider lacks).
  Retrying never helps; the message says what to change.
* :class:`InvalidInputError`: the arguments of one call are wrong (empty text, wrong types,
  invalid generation options). It is raised before any request is sent.
* :class:`ProviderError`: the backend failed (an API error, a timeout, an unreachable host, a
  malformed response). Subclasses say which failure it was; :attr:`ProviderError.retryable`
  tells the retry policy whether another attempt may succeed.

Provider SDK exceptions are always translated into this hierarchy. An SDK exception can carry
what the server said verbatim (an echoed API key, a request header), so it is never chained as
it is: its place as ``__cause__`` is taken by an :class:`UpstreamError` that keeps only its type
and its redacted text (see :func:`sanitised`), and the translated error is raised outside the
``except`` block so the original is not kept as ``__context__`` either. Messages never contain
secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthError",
    "DuplicateProviderError",
    "EmbeddingFailedError",
    "HayswitchError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginLoadError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderNotFoundError",
    "ProviderTimeoutError",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "SettingsError",
    "UnsupportedOperation",
    "UpstreamError",
    "format_validation_error",
    "sanitised",
    "with_sanitised_cause",
]


def format_validation_error(exc: ValidationError) -> list[str]:
    """One readable line per problem in a pydantic ``ValidationError``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown setting"
        lines.append(f"{loc}: {msg}")
    return lines


class HayswitchError(Exception):
    """Base class of every error raised by hayswitch."""


# --------------------------------------------------------------------------- configuration


class ConfigurationError(HayswitchError):
    """The configuration is wrong; change it (retrying never helps)."""


class ProviderNotFoundError(ConfigurationError, LookupError):
    """No provider is registered under the requested name.

    :param name: the name that was asked for.
    :param available: the names that are registered.
    :param suggestion: the closest registered name, if any is close.
    """

    def __init__(
        self,
        name: str,
        available: Sequence[str],
        suggestion: str | None = None,
        message: str | None = None,
        note: str | None = None,
    ) -> None:
        self.name = name
        self.available = list(available)
        self.suggestion = suggestion
        self.note = note
        listed = ", ".join(sorted(self.available)) or "none"
        if suggestion:
            advice = f"Did you mean {suggestion!r}? Available providers: {listed}."
        else:
            advice = (
                f"Available providers: {listed}. Install the package that provides it (usually "
                f"'hayswitch-{str(name).lower()}') or run 'hayswitch providers' to see what is installed and what "
                "failed to load."
            )
        text = message or f"Unknown provider {name!r}. {advice}"
        super().__init__(f"{text} {note}" if note else text)


class PluginLoadError(ConfigurationError):
    """A plugin (entry point) failed to import or raised inside its hook."""

    def __init__(self, plugin: str, distribution: str | None, detail: str) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.detail = detail
        dist = f" (distribution {distribution!r})" if distribution else ""
        super().__init__(f"Plugin {plugin!r}{dist} failed to load: {detail}")


class DuplicateProviderError(ConfigurationError):
    """Two plugins registered providers under the same name."""

    def __init__(self, name: str, first: str, second: str) -> None:
        self.name = name
        self.first = first
        self.second = second
        super().__init__(
            f"Provider name {name!r} is registered twice: by {first} and by {second}. "
            "Uninstall one of them, or restrict loading with HAYSWITCH_PLUGINS=<entry points>."
        )


class SettingsError(ConfigurationError, ValueError):
    """Provider settings or configuration files failed validation.

    :param problems: one line per invalid field, each naming the field and where its value came
        from (argument, environment variable, config file and profile).
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        text = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class UnsupportedOperation(ConfigurationError, NotImplementedError):
    """The provider does not support the requested operation (e.g. a generation-only provider
    asked for embeddings)."""

    def __init__(self, provider: str, operation: str, hint: str | None = None) -> None:
        self.provider = provider
        self.operation = operation
        extra = f" {hint}" if hint else " Configure a provider that supports it (see 'hayswitch providers')."
        super().__init__(f"Provider {provider!r} does not support {operation!r}.{extra}")


# --------------------------------------------------------------------------- inputs


class InvalidInputError(HayswitchError, ValueError):
    """The arguments of a call are invalid. Raised before any request is sent."""


class InvalidInputTypeError(InvalidInputError, TypeError):
    """An argument of a call has the wrong type (a string where Documents were expected, ...).

    Also a :class:`TypeError`, which is what Haystack components raise for wrong input types, and a
    :class:`ValueError` through :class:`InvalidInputError`.
    """


# --------------------------------------------------------------------------- provider / API


class ProviderError(HayswitchError):
    """The backend failed to serve a request.

    :param message: what happened and what to do about it.
    :param provider: the provider's registry name.
    :param status_code: the HTTP status, when there was one.
    :param retryable: whether another attempt may succeed (used by the retry policy).
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.retryable = self.default_retryable if retryable is None else retryable
        prefix = f"[{provider}] " if provider else ""
        status = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"{prefix}{message}{status}")


class AuthenticationError(ProviderError):
    """The credentials were missing, malformed or rejected (HTTP 401)."""


class PermissionDeniedError(ProviderError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class NotFoundError(ProviderError):
    """The model, adapter or resource does not exist (HTTP 404)."""


class InvalidRequestError(ProviderError):
    """The backend rejected the request as invalid (HTTP 400/422)."""


class ContextLengthError(InvalidRequestError, InvalidInputError):
    """The input is longer than the model's context window.

    Raise it (or let :func:`hayswitch.http.error_for_status` raise it) when the server refuses an
    over-long input, typically HTTP 400 ``context_length_exceeded``. It is both an
    :class:`InvalidRequestError` (the server refused the request) and an :class:`InvalidInputError`
    (the input is what must change: shorten or split it), so code handling either catches it, and
    the contract kit's ``long_text="error"`` check accepts it. Never retried.
    """


class RateLimitError(ProviderError):
    """The backend is rate limiting (HTTP 429).

    :param retry_after: seconds the backend asked us to wait, when it said so.
    """

    default_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        if retry_after is not None:
            message = f"{message} Retry after {retry_after:g}s."
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ProviderTimeoutError(ProviderError, TimeoutError):
    """The request took longer than the configured timeout."""

    default_retryable = True


class ProviderConnectionError(ProviderError, ConnectionError):
    """The backend could not be reached (refused, reset, DNS failure)."""

    default_retryable = True


class ServerError(ProviderError):
    """The backend failed internally (HTTP 5xx)."""

    default_retryable = True


class ContentFilteredError(ProviderError):
    """The backend refused the content (moderation / flagged content)."""


class ResponseError(ProviderError, RuntimeError):
    """The backend answered with something malformed or inconsistent (bad JSON, a wrong number of
    vectors, vectors of the wrong dimension). Also a :class:`RuntimeError`, which is what Haystack
    components raise when a model returns no (or unusable) output."""

    default_retryable = True


class EmbeddingFailedError(ProviderError):
    """Some documents could not be embedded, even after retries.

    :param failed_ids: the ids of the documents that failed.
    """

    def __init__(self, message: str, *, failed_ids: Sequence[str], **kwargs: object) -> None:
        self.failed_ids = list(failed_ids)
        shown = ", ".join(self.failed_ids[:10]) + (" ..." if len(self.failed_ids) > 10 else "")
        super().__init__(f"{message} Failed document ids ({len(self.failed_ids)}): {shown}", **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sanitised causes


class UpstreamError(Exception):
    """A redacted stand-in for an SDK or transport exception, used as ``__cause__`` of the
    translated hayswitch error.

    It keeps what helps debugging (the original type's qualified name and its redacted,
    shortened text) and nothing else: no response body, no request, no headers.

    :ivar original_type: ``module.QualName`` of the exception it stands for.
    """

    def __init__(self, original_type: str, text: str) -> None:
        self.original_type = original_type
        super().__init__(f"{original_type}: {text}" if text else original_type)


_MAX_CAUSE = 500


def sanitised(exc: BaseException, redact: Callable[[str], str]) -> UpstreamError:
    """A secret-free stand-in for ``exc`` (and its own causes, flattened into one line each).

    :param exc: the SDK/transport exception.
    :param redact: removes credentials from a text (the provider's redaction).
    """
    parts: list[str] = []
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        text = " ".join(str(current).split())
        if len(text) > _MAX_CAUSE:
            text = text[: _MAX_CAUSE - 3] + "..."
        name = type(current).__qualname__ if current is not exc else ""
        parts.append(f"{name}: {text}" if name else text)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return UpstreamError(kind, redact(" <- ".join(p for p in parts if p)))


def with_sanitised_cause(error: HayswitchError, exc: BaseException, redact: Callable[[str], str]) -> HayswitchError:
    """Attach :func:`sanitised` ``exc`` as ``error.__cause__`` (and suppress the context).

    Raise the returned error *outside* the ``except`` block that caught ``exc``, so Python does
    not record ``exc`` as ``__context__``::

        try:
            response = client.call()
        except SDKError as exc:
            error = with_sanitised_cause(translate(exc), exc, redact)
        else:
            return response
        raise error
    """
    error.__cause__ = sanitised(exc, redact)
    error.__suppress_context__ = True
    return error
