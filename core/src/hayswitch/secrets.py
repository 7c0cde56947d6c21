"""Secrets for provider settings.

A :class:`Secret` is a *reference* to a credential. Settings models declare secret fields with the
:data:`SecretField` annotation. The value is resolved only when a provider instance is created
(:meth:`Secret.resolve_value`), never when settings are parsed or serialised.

Serialised form (the same shape Haystack uses for ``haystack.utils.Secret``)::

    {"type": "env_var", "env_vars": ["GRADIENT_ACCESS_TOKEN"], "strict": true}

Token secrets (``Secret.from_token("...")``) exist for notebooks and tests; they refuse to be
serialised so a credential can never end up in a pipeline YAML or a config file.

Accepted inputs for a secret field:

* a :class:`Secret`;
* a Haystack ``Secret`` (converted; no Haystack import needed here);
* the serialised dict above;
* the string ``"env:NAME"`` (or ``"env:NAME1,NAME2"``), handy in TOML and environment variables.

A bare string is refused, because it is impossible to tell a token from an env-var name and
guessing wrong would leak the token into serialised settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from hayswitch.errors import ConfigurationError

__all__ = ["MissingSecretError", "Secret", "SecretField", "SecretSerialisationError", "serialise_settings"]


class MissingSecretError(ConfigurationError, ValueError):
    """A required secret is not set. Also a :class:`ValueError`, as raised by Haystack's
    ``Secret.resolve_value`` for an unset environment variable."""


class SecretSerialisationError(ConfigurationError, ValueError):
    """A token secret was asked to be serialised (it would write the credential to disk). Also a
    :class:`ValueError`, as raised by Haystack's ``Secret.to_dict`` for a token secret."""


class Secret:
    """A reference to a credential, resolved lazily.

    Use :meth:`from_env_var` (serialisable) or :meth:`from_token` (in-memory only).
    """

    __slots__ = ("_env_vars", "_strict", "_token")

    def __init__(self, *, env_vars: tuple[str, ...] = (), strict: bool = True, token: str | None = None) -> None:
        if token is None and not env_vars:
            raise ConfigurationError("A Secret needs either environment variable names or a token.")
        if token is not None and env_vars:
            raise ConfigurationError("A Secret is either a token or environment variables, not both.")
        if any(not isinstance(v, str) or not v for v in env_vars):
            raise ConfigurationError("Secret environment variable names must be non-empty strings.")
        self._env_vars = tuple(env_vars)
        self._strict = strict
        self._token = token

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_env_var(cls, *names: str, strict: bool = True) -> Secret:
        """Reference one or more environment variables (the first one that is set wins).

        :param strict: if true, resolving raises when none of them is set; otherwise it gives None.
        """
        return cls(env_vars=tuple(names), strict=strict)

    @classmethod
    def from_token(cls, token: str) -> Secret:
        """Wrap a literal token. Such a secret cannot be serialised."""
        if not isinstance(token, str) or not token:
            raise ConfigurationError("Secret.from_token() needs a non-empty string.")
        return cls(token=token)

    @classmethod
    def coerce(cls, value: Any) -> Secret:
        """Convert any accepted input (see module docs) into a :class:`Secret`."""
        if isinstance(value, Secret):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, str):
            if value.startswith("env:"):
                names = tuple(n.strip() for n in value[4:].split(",") if n.strip())
                if not names:
                    raise ConfigurationError("'env:' must be followed by an environment variable name.")
                return cls.from_env_var(*names)
            raise ConfigurationError(
                "A secret cannot be given as a plain string. Use 'env:VARIABLE_NAME' to read it from "
                "the environment, or Secret.from_token(...) in Python code."
            )
        # Haystack's Secret (or anything shaped like it), converted without importing Haystack.
        to_dict = getattr(value, "to_dict", None)
        resolve = getattr(value, "resolve_value", None)
        if callable(resolve):
            kind = getattr(getattr(value, "type", None), "value", None)
            if kind == "token" or getattr(value, "_token", None) is not None:
                token = resolve()
                if not isinstance(token, str):
                    raise ConfigurationError("The token secret resolved to a non-string value.")
                return cls.from_token(token)
            if callable(to_dict):
                return cls.from_dict(to_dict())
        raise ConfigurationError(
            f"Cannot use a {type(value).__name__} as a secret. Use Secret.from_env_var(...), "
            "Secret.from_token(...) or 'env:VARIABLE_NAME'."
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Secret:
        """Rebuild a secret from its serialised dict."""
        kind = data.get("type")
        if kind == "env_var":
            names = data.get("env_vars")
            if not isinstance(names, list | tuple) or not names:
                raise ConfigurationError("A serialised env_var secret needs a non-empty 'env_vars' list.")
            return cls.from_env_var(*[str(n) for n in names], strict=bool(data.get("strict", True)))
        if kind == "token":
            raise ConfigurationError("Token secrets cannot be deserialised; use an env_var secret instead.")
        raise ConfigurationError(f"Unknown secret type {kind!r}; expected 'env_var'.")

    # ------------------------------------------------------------------ behaviour
    @property
    def env_vars(self) -> tuple[str, ...]:
        """The environment variable names this secret reads (empty for a token secret)."""
        return self._env_vars

    @property
    def is_token(self) -> bool:
        return self._token is not None

    def resolve_value(self) -> str | None:
        """Return the credential, reading the environment now.

        :raises MissingSecretError: if strict and no variable is set (the message names them).
        """
        if self._token is not None:
            return self._token
        for name in self._env_vars:
            value = os.environ.get(name)
            if value:
                return value
        if self._strict:
            names = " or ".join(self._env_vars)
            raise MissingSecretError(f"The secret is not set: export {names}, or configure the setting explicitly.")
        return None

    def to_dict(self) -> dict[str, Any]:
        """Serialise as an env-var reference. Token secrets refuse (they would leak)."""
        if self._token is not None:
            raise SecretSerialisationError(
                "Cannot serialise a token secret (it would write the credential to disk). "
                "Use Secret.from_env_var('NAME') or 'env:NAME' instead."
            )
        return {"type": "env_var", "env_vars": list(self._env_vars), "strict": self._strict}

    def __repr__(self) -> str:
        if self._token is not None:
            return "Secret(token=***)"
        return f"Secret(env_vars={list(self._env_vars)!r}, strict={self._strict})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (self._env_vars, self._strict, self._token) == (other._env_vars, other._strict, other._token)

    def __hash__(self) -> int:
        return hash((self._env_vars, self._strict, self._token))

    # ------------------------------------------------------------------ pydantic integration
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any) -> Secret:
            try:
                return cls.coerce(value)
            except ConfigurationError as exc:
                raise ValueError(str(exc)) from None

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.to_dict(), when_used="always"),
        )


SecretField = Annotated[Secret, "hayswitch-secret"]
"""Annotation for secret fields in a settings model (``access_token: SecretField = ...``)."""


def _is_secret_like(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    # Haystack's Secret (or anything shaped like it) without importing Haystack here.
    return callable(getattr(value, "resolve_value", None)) and callable(getattr(value, "to_dict", None))


def serialise_settings(settings: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Provider settings as JSON-ready values, secrets only as env-var references (what a
    component's ``to_dict`` stores).

    Accepted secret forms: :class:`Secret`, Haystack's ``Secret``, ``"env:NAME"`` strings and
    already-serialised ``{"type": "env_var", ...}`` dicts (all kept as references).

    :param owner: who serialises (named in the error).
    :raises SecretSerialisationError: if a secret, also one nested in a mapping or list, is a literal
        token (it would be written to disk).
    """
    return {key: _serialise_value(value, owner, str(key)) for key, value in settings.items()}


def _serialise_value(value: Any, owner: str, where: str) -> Any:
    # Secrets nested in mappings and lists (e.g. the openai provider's extra_headers values) get
    # the same treatment as top-level secret settings.
    from pydantic import BaseModel

    if _is_secret_like(value):
        try:
            return Secret.coerce(value).to_dict()
        except ConfigurationError as exc:
            raise SecretSerialisationError(
                f"{owner}: cannot serialise setting {where!r}: {exc} The component cannot be saved while a "
                "setting holds a literal token."
            ) from None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: _serialise_value(v, owner, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_serialise_value(v, owner, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
