"""Configuration precedence (argument > environment > config file > default) and error messages
that name the field and where its value came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from hayswitch import SettingsError, get_provider, resolve_config, resolve_provider
from hayswitch.config import DEFAULT_PROVIDER, env_prefix, find_config_file, load_config_file
from hayswitch.providers.fake import FakeProvider, FakeSettings

CONFIG = """
default_profile = "small"

[providers.fake]
dimension = 16
chat_model = "from-providers-table"

[profiles.small]
provider = "fake"
settings = { dimension = 24 }

[profiles.big]
provider = "fake"
fallbacks = ["small"]
settings = { dimension = 96, embedding_model = "big-embed" }

[profiles.other]
provider = "openai"
settings = { model = "x" }
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "hayswitch.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


# --------------------------------------------------------------------------- which provider


def test_default_without_any_configuration(tmp_path: Path) -> None:
    resolved = resolve_config(environ={}, cwd=tmp_path)
    assert resolved.provider == DEFAULT_PROVIDER == "local"
    assert resolved.is_default
    assert resolved.provider_source == "default"
    assert resolved.settings == {}
    assert resolved.config_file is None


def test_default_profile_from_the_file(config_dir: Path) -> None:
    resolved = resolve_config(environ={}, cwd=config_dir)
    assert resolved.provider == "fake"
    assert resolved.profile == "small"
    assert "profile 'small'" in resolved.provider_source
    assert resolved.settings["dimension"] == 24
    assert resolved.sources["dimension"].startswith("profile 'small' in ")
    assert resolved.settings["chat_model"] == "from-providers-table"
    assert resolved.sources["chat_model"].startswith("[providers.fake] in ")


def test_env_profile_beats_default_profile(config_dir: Path) -> None:
    resolved = resolve_config(environ={"HAYSWITCH_PROFILE": "big"}, cwd=config_dir)
    assert resolved.profile == "big"
    assert resolved.settings["dimension"] == 96
    assert resolved.fallbacks == ["small"]
    assert resolved.sources["dimension"] == f"profile 'big' in {config_dir / 'hayswitch.toml'}"


def test_argument_profile_beats_env_profile_and_env_provider(config_dir: Path) -> None:
    env = {"HAYSWITCH_PROFILE": "small", "HAYSWITCH_PROVIDER": "openai"}
    resolved = resolve_config(profile="big", environ=env, cwd=config_dir)
    assert resolved.provider == "fake"
    assert resolved.profile == "big"
    assert resolved.settings["dimension"] == 96


def test_env_provider_beats_file_profile(config_dir: Path) -> None:
    resolved = resolve_config(environ={"HAYSWITCH_PROVIDER": "openai"}, cwd=config_dir)
    assert resolved.provider == "openai"
    assert resolved.provider_source == "environment variable HAYSWITCH_PROVIDER"
    # the active profile is for another provider, so its settings do not apply
    assert resolved.profile is None
    assert resolved.settings == {}


def test_argument_provider_beats_everything(config_dir: Path) -> None:
    env = {"HAYSWITCH_PROVIDER": "openai", "HAYSWITCH_PROFILE": "other"}
    resolved = resolve_config("fake", environ=env, cwd=config_dir)
    assert resolved.provider == "fake"
    assert resolved.provider_source == "argument 'provider'"
    assert resolved.settings == {"dimension": 16, "chat_model": "from-providers-table"}


def test_blank_environment_values_are_ignored(config_dir: Path) -> None:
    resolved = resolve_config(environ={"HAYSWITCH_PROVIDER": "  ", "HAYSWITCH_PROFILE": ""}, cwd=config_dir)
    assert resolved.profile == "small"


# --------------------------------------------------------------------------- settings layering


def test_settings_layers_in_order(config_dir: Path) -> None:
    env = {
        "HAYSWITCH_PROFILE": "big",
        "HAYSWITCH_FAKE__DIMENSION": "128",
        "HAYSWITCH_FAKE__FAIL_ON": '["boom"]',
        "HAYSWITCH_FAKE__CHAT_MODEL": "plain string, not JSON",
        "HAYSWITCH_OPENAI__MODEL": "ignored for fake",
    }
    resolved = resolve_config(environ=env, cwd=config_dir, settings={"max_tokens": 5})
    assert resolved.settings == {
        "dimension": 128,
        "chat_model": "plain string, not JSON",
        "embedding_model": "big-embed",
        "fail_on": ["boom"],
        "max_tokens": 5,
    }
    assert resolved.sources["dimension"] == "environment variable HAYSWITCH_FAKE__DIMENSION"
    assert resolved.sources["embedding_model"].startswith("profile 'big'")
    assert resolved.sources["max_tokens"] == "argument 'settings'"
    resolved = resolve_config(environ=env, cwd=config_dir, settings={"dimension": 8})
    assert resolved.settings["dimension"] == 8
    assert resolved.sources["dimension"] == "argument 'settings'"


def test_get_provider_applies_every_layer(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(config_dir)
    assert get_provider().settings.dimension == 24  # type: ignore[attr-defined]
    monkeypatch.setenv("HAYSWITCH_PROFILE", "big")
    assert get_provider().settings.dimension == 96  # type: ignore[attr-defined]
    monkeypatch.setenv("HAYSWITCH_FAKE__DIMENSION", "40")
    assert get_provider().embed_text("x").dimension == 40
    assert get_provider(dimension=12).embed_text("x").dimension == 12
    assert get_provider("fake", profile="small").settings.dimension == 40  # type: ignore[attr-defined]


def test_env_prefix() -> None:
    assert env_prefix("fake") == "HAYSWITCH_FAKE__"
    assert env_prefix("my-provider") == "HAYSWITCH_MY_PROVIDER__"


def test_resolve_provider_returns_validated_settings_without_creating(config_dir: Path) -> None:
    cls, settings, resolved = resolve_provider(environ={}, cwd=config_dir)
    assert cls is FakeProvider
    assert isinstance(settings, FakeSettings)
    assert settings.dimension == 24
    assert resolved.profile == "small"


# --------------------------------------------------------------------------- config file discovery


def test_hayswitch_config_points_to_another_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('[profiles.x]\nprovider = "fake"\n', encoding="utf-8")
    assert find_config_file({"HAYSWITCH_CONFIG": str(other)}, cwd=tmp_path) == other
    resolved = resolve_config(profile="x", environ={"HAYSWITCH_CONFIG": str(other)}, cwd=tmp_path)
    assert resolved.config_file == other


def test_missing_hayswitch_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError, match=r"HAYSWITCH_CONFIG points to .*nope\.toml, which does not exist"):
        resolve_config(environ={"HAYSWITCH_CONFIG": str(missing)}, cwd=tmp_path)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hayswitch.toml"
    path.write_text("[profiles.dev\nprovider = 'fake'\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"hayswitch.toml is not valid TOML") as excinfo:
        resolve_config(environ={}, cwd=tmp_path)
    assert "line 1" in str(excinfo.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("colour = 'blue'\n", "colour: unknown setting"),
        ("[profiles.dev]\nprovider = 3\n", "profiles.dev.provider: Input should be a valid string"),
        ("[profiles.dev]\nprovider = 'fake'\nsetings = {}\n", "profiles.dev.setings: unknown setting"),
        ("[profiles.dev]\nsettings = {}\n", "profiles.dev.provider: Field required"),
        ("default_profile = 5\n", "default_profile: Input should be a valid string"),
    ],
)
def test_invalid_file_structure_names_the_field(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "hayswitch.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError) as excinfo:
        load_config_file(path)
    assert problem in str(excinfo.value)
    assert str(path) in str(excinfo.value)


def test_unknown_profile_names_source_and_known_profiles(config_dir: Path) -> None:
    with pytest.raises(SettingsError) as excinfo:
        resolve_config(environ={"HAYSWITCH_PROFILE": "prod"}, cwd=config_dir)
    message = str(excinfo.value)
    assert "Unknown profile 'prod' (from environment variable HAYSWITCH_PROFILE)" in message
    assert "Known profiles: big, other, small" in message
    with pytest.raises(SettingsError, match="from argument 'profile'"):
        resolve_config(profile="prod", environ={}, cwd=config_dir)


def test_unknown_default_profile_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "hayswitch.toml").write_text('default_profile = "ghost"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"'default_profile' in .*hayswitch\.toml"):
        resolve_config(environ={}, cwd=tmp_path)


# --------------------------------------------------------------------------- invalid settings, with sources


def test_unknown_setting_names_field_source_and_valid_settings(config_dir: Path) -> None:
    with pytest.raises(SettingsError) as excinfo:
        resolve_provider("fake", settings={"dimensoin": 3}, environ={}, cwd=config_dir)
    message = str(excinfo.value)
    assert "Invalid settings for provider 'fake'" in message
    assert "dimensoin: unknown setting" in message
    assert "[from argument 'settings']" in message
    assert "valid settings: " in message
    assert "dimension" in message


def test_wrong_type_from_env_names_the_variable(config_dir: Path) -> None:
    env = {"HAYSWITCH_FAKE__DIMENSION": "many"}
    with pytest.raises(SettingsError) as excinfo:
        resolve_provider(environ=env, cwd=config_dir)
    assert "dimension: Input should be a valid integer" in str(excinfo.value)
    assert "[from environment variable HAYSWITCH_FAKE__DIMENSION]" in str(excinfo.value)


def test_wrong_value_from_profile_names_profile_and_file(tmp_path: Path) -> None:
    (tmp_path / "hayswitch.toml").write_text(
        '[profiles.dev]\nprovider = "fake"\nsettings = { dimension = -1 }\n', encoding="utf-8"
    )
    with pytest.raises(SettingsError) as excinfo:
        resolve_provider(profile="dev", environ={}, cwd=tmp_path)
    assert "dimension: Input should be greater than 0" in str(excinfo.value)
    assert f"[from profile 'dev' in {tmp_path / 'hayswitch.toml'}]" in str(excinfo.value)


def test_wrong_value_from_providers_table(tmp_path: Path) -> None:
    (tmp_path / "hayswitch.toml").write_text('[providers.fake]\nfail_with = "meteor"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"fail_with: .*\[from \[providers.fake\] in "):
        resolve_provider("fake", environ={}, cwd=tmp_path)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as excinfo:
        resolve_provider("fake", settings={"dimension": "x", "latency": -1, "nope": 1}, environ={}, cwd=tmp_path)
    assert len(excinfo.value.problems) == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"provider": ""}, "provider name must be a non-empty string"),
        ({"provider": 3}, "provider name must be a non-empty string"),
        ({"profile": " "}, "profile name must be a non-empty string"),
        ({"settings": ["dimension", 3]}, "Settings must be a mapping"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        resolve_config(environ={}, cwd=tmp_path, **kwargs)  # type: ignore[arg-type]
