"""Secrets: references resolved only when a provider is created, never shown or serialised."""

from __future__ import annotations

import json

import pytest
from haystack.utils import Secret as HaystackSecret

from hayswitch import ConfigurationError, MissingSecretError, Secret, SettingsError, get_provider
from hayswitch.providers.fake import FakeProvider, FakeSettings

TOKEN = "sk-very-secret-token-000"


def test_env_var_secret_serialises_as_a_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_TEST_KEY", TOKEN)
    secret = Secret.from_env_var("HS_TEST_KEY", "HS_FALLBACK_KEY")
    assert secret.to_dict() == {"type": "env_var", "env_vars": ["HS_TEST_KEY", "HS_FALLBACK_KEY"], "strict": True}
    assert Secret.from_dict(secret.to_dict()) == secret
    assert TOKEN not in repr(secret)
    assert secret.resolve_value() == TOKEN


def test_first_set_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HS_A", raising=False)
    monkeypatch.setenv("HS_B", "b-value")
    assert Secret.from_env_var("HS_A", "HS_B").resolve_value() == "b-value"


def test_missing_strict_secret_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HS_MISSING", raising=False)
    with pytest.raises(MissingSecretError, match="export HS_MISSING"):
        Secret.from_env_var("HS_MISSING").resolve_value()
    assert Secret.from_env_var("HS_MISSING", strict=False).resolve_value() is None


def test_token_secret_is_hidden_and_refuses_serialisation() -> None:
    secret = Secret.from_token(TOKEN)
    assert repr(secret) == "Secret(token=***)"
    with pytest.raises(ConfigurationError, match="Cannot serialise a token secret") as excinfo:
        secret.to_dict()
    assert TOKEN not in str(excinfo.value)
    with pytest.raises(ConfigurationError, match="cannot be deserialised"):
        Secret.from_dict({"type": "token", "token": TOKEN})


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("sk-plain-string", "cannot be given as a plain string"),
        ("env:", "must be followed by an environment variable name"),
        ({"type": "env_var", "env_vars": []}, "non-empty 'env_vars'"),
        ({"type": "vault"}, "Unknown secret type"),
        (42, "Cannot use a int as a secret"),
    ],
)
def test_invalid_secret_inputs(value: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as excinfo:
        Secret.coerce(value)
    assert "sk-plain-string" not in str(excinfo.value)


def test_env_shorthand() -> None:
    assert Secret.coerce("env:A, B") == Secret.from_env_var("A", "B")


def test_haystack_secrets_convert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_HAY", TOKEN)
    converted = Secret.coerce(HaystackSecret.from_env_var("HS_HAY"))
    assert converted == Secret.from_env_var("HS_HAY")
    assert converted.to_dict() == HaystackSecret.from_env_var("HS_HAY").to_dict()
    token = Secret.coerce(HaystackSecret.from_token(TOKEN))
    assert token.is_token
    assert token.resolve_value() == TOKEN


def test_secret_resolved_only_at_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HS_FAKE_KEY", raising=False)
    settings = FakeSettings(api_key="env:HS_FAKE_KEY")  # parsing never reads the environment
    with pytest.raises(MissingSecretError, match="HS_FAKE_KEY"):
        FakeProvider(settings)
    monkeypatch.setenv("HS_FAKE_KEY", TOKEN)
    provider = FakeProvider(settings)
    public = provider.settings.to_public_dict()
    assert public["api_key"] == {"type": "env_var", "env_vars": ["HS_FAKE_KEY"], "strict": True}
    for view in (json.dumps(public), repr(provider), str(provider.settings), repr(provider.settings)):
        assert TOKEN not in view


def test_token_settings_refuse_to_serialise_and_hide_in_repr() -> None:
    provider = get_provider("fake", api_key=Secret.from_token(TOKEN))
    assert TOKEN not in repr(provider)
    with pytest.raises(ConfigurationError, match="Setting 'api_key' holds a token secret") as excinfo:
        provider.settings.to_public_dict()
    assert TOKEN not in str(excinfo.value)


def test_plain_string_secret_setting_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as excinfo:
        get_provider("fake", api_key=TOKEN)
    assert "api_key" in str(excinfo.value)
    assert "env:VARIABLE_NAME" in str(excinfo.value)
    assert TOKEN not in str(excinfo.value)


def test_secret_constructor_validation() -> None:
    with pytest.raises(ConfigurationError):
        Secret()
    with pytest.raises(ConfigurationError):
        Secret(env_vars=("A",), token="t")
    with pytest.raises(ConfigurationError):
        Secret.from_env_var("")
    with pytest.raises(ConfigurationError):
        Secret.from_token("")
