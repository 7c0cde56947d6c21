"""Configuration: which provider, with which settings ("whichever provider is configured").

Resolution order, highest first:

1. **Explicit arguments** -- ``get_provider("gradient", host=...)``, a component's ``provider=`` /
   ``settings=`` / ``profile=``, the CLI's ``--provider`` / ``--profile``.
2. **Environment** -- ``HAYSWITCH_PROVIDER`` (a provider name), ``HAYSWITCH_PROFILE`` (a profile
   of the config file), and per-setting variables ``HAYSWITCH_<PROVIDER>__<SETTING>`` such as
   ``HAYSWITCH_OPENAI__BASE_URL=http://127.0.0.1:8000/v1`` (values are parsed as JSON when they
   are valid JSON -- numbers, booleans, lists -- and used as plain strings otherwise).
3. **Config file** -- ``hayswitch.toml`` in the working directory, or the file named by
   ``HAYSWITCH_CONFIG``::

       default_profile = "dev"

       [providers.gradient]              # base settings for a provider, whatever the profile
       host = "http://127.0.0.1:8080/api"

       [profiles.dev]
       provider = "local"

       [profiles.prod]
       provider = "gradient"
       fallbacks = ["dev"]
       settings = { base_model_slug = "nous-hermes2", access_token = "env:GRADIENT_ACCESS_TOKEN" }

4. **Default** -- :data:`DEFAULT_PROVIDER` (``"local"``).

Settings are layered for the resolved provider only: file ``[providers.<name>]`` < the active
profile's ``settings`` (when the profile is for that provider) < environment < explicit. Every
value remembers where it came from, so a validation error names the field *and* its source.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hayswitch.errors import SettingsError
from hayswitch.provider import ProviderSettings, format_validation_error

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_PROVIDER",
    "ConfigFile",
    "Profile",
    "ResolvedConfig",
    "find_config_file",
    "load_config_file",
    "resolve_config",
]

DEFAULT_PROVIDER = "local"
CONFIG_FILE_NAME = "hayswitch.toml"


class Profile(BaseModel):
    """A named provider + settings in ``hayswitch.toml``."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    fallbacks: list[str] = Field(default_factory=list, description="Profiles or providers to try next (generation).")


class ConfigFile(BaseModel):
    """The schema of ``hayswitch.toml``."""

    model_config = ConfigDict(extra="forbid")

    default_profile: str | None = None
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)

    def profile(self, name: str, source: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none defined"
            where = f" in {self.path}" if self.path else ""
            raise SettingsError(f"Unknown profile {name!r} (from {source}){where}. Known profiles: {known}.") from None


def find_config_file(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config file in effect: ``HAYSWITCH_CONFIG`` (must exist) or ``./hayswitch.toml``."""
    env = os.environ if environ is None else environ
    explicit = env.get("HAYSWITCH_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"HAYSWITCH_CONFIG points to {path}, which does not exist or is not a file.")
        return path
    candidate = (cwd or Path.cwd()) / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


def load_config_file(path: Path) -> ConfigFile:
    """Parse and validate a config file.

    :raises SettingsError: for unreadable TOML or an invalid structure (naming the field).
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"Config file {path} is not valid TOML: {exc}") from exc
    try:
        config = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(exc)
    else:
        config.path = path
        return config
    # Outside the except block: the ValidationError keeps input values (secrets) as __context__.
    raise SettingsError(f"Invalid config file {path}.", problems)


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def env_prefix(provider: str) -> str:
    """The prefix of per-setting environment variables for ``provider``."""
    return "HAYSWITCH_" + provider.upper().replace("-", "_") + "__"


@dataclass
class ResolvedConfig:
    """The outcome of :func:`resolve_config`.

    :param provider: the provider name.
    :param provider_source: where the name came from.
    :param settings: merged raw settings (not yet validated).
    :param sources: for each setting, where its value came from.
    :param profile: the active profile, if any.
    :param fallbacks: the active profile's fallbacks.
    :param config_file: the config file that was read, if any.
    """

    provider: str
    provider_source: str
    settings: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    profile: str | None = None
    fallbacks: list[str] = field(default_factory=list)
    config_file: Path | None = None

    @property
    def is_default(self) -> bool:
        return self.provider_source == "default"

    def validate(self, model: type[ProviderSettings]) -> ProviderSettings:
        """Validate the merged settings against ``model``.

        :raises SettingsError: one line per problem, naming the field and its source.
        """
        try:
            return model.model_validate(self.settings)
        except ValidationError as exc:
            problems = self._problems(exc, model)
        # Raised outside the except block: the ValidationError (whose errors keep every input
        # value, a refused plain-string key included) must not survive as __context__.
        raise SettingsError(f"Invalid settings for provider {self.provider!r}.", problems)

    def _problems(self, exc: ValidationError, model: type[ProviderSettings]) -> list[str]:
        problems: list[str] = []
        for err in exc.errors():
            loc = err.get("loc", ())
            key = str(loc[0]) if loc else ""
            where = self.sources.get(key, "default value")
            msg = "unknown setting" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
            path = ".".join(str(p) for p in loc) or "(root)"
            hint = ""
            if err.get("type") == "extra_forbidden":
                hint = f" (valid settings: {', '.join(sorted(model.model_fields))})"
            problems.append(f"{path}: {msg}{hint} [from {where}]")
        return problems


def resolve_config(
    provider: str | None = None,
    *,
    profile: str | None = None,
    settings: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config: ConfigFile | None = None,
) -> ResolvedConfig:
    """Work out which provider to use and its raw settings, following the documented order.

    :param provider: explicit provider name (highest precedence).
    :param profile: explicit profile name from the config file.
    :param settings: explicit settings (highest precedence for each key).
    :param environ: environment to read (defaults to ``os.environ``).
    :param cwd: directory to look for ``hayswitch.toml`` in.
    :param config: an already-loaded config file (skips file discovery).
    """
    env = os.environ if environ is None else environ
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise SettingsError(
            f"The provider name must be a non-empty string, got {provider!r} (from argument 'provider')."
        )
    if profile is not None and (not isinstance(profile, str) or not profile.strip()):
        raise SettingsError(f"The profile name must be a non-empty string, got {profile!r} (from argument 'profile').")
    if settings is not None and not isinstance(settings, Mapping):
        raise SettingsError(
            f"Settings must be a mapping of setting names to values, got {type(settings).__name__} "
            "(from argument 'settings')."
        )
    if config is None:
        path = find_config_file(env, cwd)
        config = load_config_file(path) if path else ConfigFile()

    # Which profile is active (at most one).
    active: tuple[str, str] | None = None
    if profile:
        active = (profile, "argument 'profile'")
    elif env.get("HAYSWITCH_PROFILE", "").strip():
        active = (env["HAYSWITCH_PROFILE"].strip(), "environment variable HAYSWITCH_PROFILE")
    elif config.default_profile:
        active = (config.default_profile, f"'default_profile' in {config.path}")
    active_profile = config.profile(*active) if active else None
    file_label = str(config.path) if config.path else "config file"

    # Which provider (names are case-insensitive: registry names are lowercase).
    if provider:
        name, name_source = provider.strip(), "argument 'provider'"
    elif profile and active_profile is not None:
        name, name_source = active_profile.provider, f"profile {profile!r} in {file_label}"
    elif env.get("HAYSWITCH_PROVIDER", "").strip():
        name, name_source = env["HAYSWITCH_PROVIDER"].strip(), "environment variable HAYSWITCH_PROVIDER"
    elif active_profile is not None and active is not None:
        name, name_source = active_profile.provider, f"profile {active[0]!r} in {file_label}"
    else:
        name, name_source = DEFAULT_PROVIDER, "default"

    name = name.lower()
    resolved = ResolvedConfig(provider=name, provider_source=name_source, config_file=config.path)

    def layer(values: Mapping[str, Any], source: str) -> None:
        for key, value in values.items():
            resolved.settings[key] = value
            resolved.sources[key] = source

    layer(config.providers.get(name, {}), f"[providers.{name}] in {file_label}")
    if active_profile is not None and active is not None and active_profile.provider == name:
        resolved.profile = active[0]
        resolved.fallbacks = list(active_profile.fallbacks)
        layer(active_profile.settings, f"profile {active[0]!r} in {file_label}")
    prefix = env_prefix(name)
    for key in sorted(env):
        if key.startswith(prefix) and len(key) > len(prefix):
            field_name = key[len(prefix) :].lower()
            layer({field_name: _parse_env_value(env[key])}, f"environment variable {key}")
    if settings:
        layer(settings, "argument 'settings'")
    return resolved
