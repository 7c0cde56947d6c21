"""Which provider a component uses, when it is resolved, and the typed errors when it cannot be."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from haystack import Document
from haystack.dataclasses import ChatMessage

import hayswitch
from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator, ProviderGenerator
from hayswitch import Provider, ProviderNotFoundError, SettingsError, UnsupportedOperation

ALL = [ProviderDocumentEmbedder, ProviderTextEmbedder, ProviderChatGenerator, ProviderGenerator]
INPUTS: dict[type, Any] = {
    ProviderDocumentEmbedder: [Document(content="x")],
    ProviderTextEmbedder: "x",
    ProviderChatGenerator: [ChatMessage.from_user("x")],
    ProviderGenerator: "x",
}


def _run(component: Any, mode: str = "sync") -> dict[str, Any]:
    value = INPUTS[type(component)]
    if mode == "async":
        return asyncio.run(component.run_async(value))
    return component.run(value)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_nothing_configured_and_no_default_says_what_to_set(
    cls: type, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAYSWITCH_PLUGINS", "fake")  # only 'fake' is loaded: the default 'local' is absent
    hayswitch.reset_registry()
    component = cls()  # provider=None: nothing is resolved yet
    with pytest.raises(ProviderNotFoundError) as info:
        _run(component, mode)
    message = str(info.value)
    assert cls.__name__ in message
    assert "HAYSWITCH_PROVIDER" in message
    assert "provider='<name>'" in message
    assert "fake" in message  # lists what is installed


@pytest.mark.parametrize("cls", ALL)
def test_unknown_provider_is_refused_at_init_with_a_suggestion(cls: type) -> None:
    with pytest.raises(ProviderNotFoundError, match="Did you mean 'fake'"):
        cls(provider="fak")


def test_unknown_provider_from_the_environment_fails_at_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "nope")
    embedder = ProviderTextEmbedder()
    with pytest.raises(ProviderNotFoundError, match="Unknown provider 'nope'"):
        embedder.warm_up()


@pytest.mark.parametrize("value", ["", "  ", 3])
def test_provider_must_be_a_name(value: Any) -> None:
    with pytest.raises(hayswitch.ConfigurationError, match="registered provider name"):
        ProviderTextEmbedder(provider=value)


def test_invalid_settings_are_refused_at_init_when_the_provider_is_named() -> None:
    with pytest.raises(SettingsError, match=r"dimension.*argument 'settings'"):
        ProviderDocumentEmbedder(provider="fake", settings={"dimension": 0})
    with pytest.raises(SettingsError, match="unknown setting"):
        ProviderChatGenerator(provider="fake", settings={"temperature_x": 1})
    with pytest.raises(hayswitch.ConfigurationError, match="settings must be a dict"):
        ProviderGenerator(provider="fake", settings=["dimension"])  # type: ignore[arg-type]


def test_invalid_settings_with_provider_none_fail_at_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = ProviderTextEmbedder(settings={"dimension": -5})  # not validated yet: provider unknown
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    with pytest.raises(SettingsError, match="dimension"):
        embedder.run("x")


def test_settings_from_environment_and_config_file_apply(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "hayswitch.toml").write_text('[providers.fake]\ndimension = 20\nembedding_model = "from-file"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    monkeypatch.setenv("HAYSWITCH_FAKE__DIMENSION", "24")
    meta = ProviderTextEmbedder().run("x")["meta"]
    assert (meta["dimension"], meta["model"]) == (24, "from-file")  # env beats file
    meta = ProviderTextEmbedder(settings={"dimension": 28}).run("x")["meta"]
    assert meta["dimension"] == 28  # explicit beats env


def test_profile_option_picks_provider_and_settings(
    alt: type[Provider], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "hayswitch.toml").write_text('[profiles.small]\nprovider = "alt"\nsettings = { dimension = 5 }\n')
    monkeypatch.chdir(tmp_path)
    meta = ProviderTextEmbedder(profile="small").run("x")["meta"]
    assert (meta["provider"], meta["dimension"]) == ("alt", 5)
    with pytest.raises(SettingsError, match="Unknown profile 'large'"):
        ProviderTextEmbedder(profile="large").warm_up()


def test_model_conflicting_with_settings_is_refused() -> None:
    with pytest.raises(SettingsError, match="set the model in one place"):
        ProviderTextEmbedder(provider="fake", model="a", settings={"embedding_model": "b"})
    # the same value twice is fine
    assert (
        ProviderTextEmbedder(provider="fake", model="a", settings={"embedding_model": "a"}).run("x")["meta"]["model"]
        == "a"
    )


def test_model_for_a_provider_without_a_model_setting_is_refused(alt: type[Provider]) -> None:
    with pytest.raises(SettingsError, match="no configurable embedding model"):
        ProviderTextEmbedder(provider="embed-only", model="x")


def test_model_with_provider_none_is_applied_at_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    generator = ProviderGenerator(model="fake-chat-large")
    assert generator.run("q")["meta"][0]["model"] == "fake-chat-large"


def test_embedder_needs_an_embedding_provider(alt: type[Provider]) -> None:
    class NoEmbed(Provider):
        name = "gen-only"
        capabilities = hayswitch.Capabilities(generation=True)

    hayswitch.get_registry().register(NoEmbed)
    with pytest.raises(UnsupportedOperation, match="needs a provider with embeddings"):
        ProviderDocumentEmbedder(provider="gen-only")


def test_explicit_provider_resolves_no_secret_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    component = ProviderChatGenerator(provider="fake", settings={"api_key": "env:NOT_SET_ANYWHERE"})
    assert component.provider_instance is None
    with pytest.raises(hayswitch.MissingSecretError, match="NOT_SET_ANYWHERE"):
        component.warm_up()
