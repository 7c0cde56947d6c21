"""One route from configuration to a ready provider: a component reads ``hayswitch.toml`` and
validates its settings once for its lifetime, whatever the number of runs, fallbacks and
warm-up/close cycles; ``get_provider``, the components and the CLI share one "default provider
not installed" message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from haystack.dataclasses import ChatMessage

import hayswitch
import hayswitch.config
from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator
from hayswitch import ProviderNotFoundError
from hayswitch.providers.fake import FakeProvider
from hayswitch.routing import default_provider_missing, plan_chain

FAST = {"max_attempts": 2, "initial_wait": 0, "max_wait": 0}
CONFIG = """
[providers.fake]
dimension = 16

[profiles.prod]
provider = "fake"
fallbacks = ["dev", "backup"]
settings = { fail_first = 10000, fail_with = "timeout" }

[profiles.dev]
provider = "fake"
settings = { chat_model = "dev-chat", fail_first = 10000, fail_with = "server" }

[profiles.backup]
provider = "fake"
settings = { chat_model = "backup-chat" }
"""


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count reads of hayswitch.toml and validations of the fake provider's settings."""
    (tmp_path / "hayswitch.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    counts = {"config_reads": 0, "settings_validations": 0}
    read = hayswitch.config.load_config_file

    def counting_read(path: Path) -> Any:
        counts["config_reads"] += 1
        return read(path)

    monkeypatch.setattr("hayswitch.config.load_config_file", counting_read)
    monkeypatch.setattr("hayswitch.routing.load_config_file", counting_read)
    model = FakeProvider.settings_model
    validate = model.model_validate.__func__  # type: ignore[attr-defined]

    def counting_validate(cls: type, obj: Any, *args: Any, **kwargs: Any) -> Any:
        counts["settings_validations"] += 1
        return validate(cls, obj, *args, **kwargs)

    monkeypatch.setattr(model, "model_validate", classmethod(counting_validate))
    return counts


def test_a_generator_with_fallbacks_reads_the_config_once(counted: dict[str, int]) -> None:
    llm = ProviderChatGenerator(profile="prod", retry=FAST)
    for _ in range(3):
        reply = llm.run([ChatMessage.from_user("hello")])["replies"][0]
        assert reply.meta["model"] == "backup-chat"  # prod and dev failed over to backup
    llm.close()
    llm.warm_up()  # a second lifetime of the provider: the plan is reused
    llm.run([ChatMessage.from_user("again")])
    llm.close()
    assert counted["config_reads"] == 1
    assert counted["settings_validations"] == 3  # one per chain member, once


def test_explicit_provider_and_fallbacks_read_the_config_once(counted: dict[str, int]) -> None:
    llm = ProviderChatGenerator(
        provider="fake",
        settings={"fail_first": 10000, "fail_with": "server"},
        fallbacks=["backup", {"provider": "fake", "label": "plain"}],
        retry=FAST,
    )
    llm.warm_up()
    assert llm.run([ChatMessage.from_user("x")])["replies"][0].meta["model"] == "backup-chat"
    llm.close()
    assert counted["config_reads"] == 1


def test_an_embedder_with_fallbacks_reads_the_config_once(counted: dict[str, int]) -> None:
    from haystack import Document

    embedder = ProviderDocumentEmbedder(
        provider="fake", fallbacks=[{"provider": "fake", "label": "twin"}], progress_bar=False
    )
    for _ in range(2):
        out = embedder.run([Document(content=f"text {i}") for i in range(5)])
        assert len(out["documents"][0].embedding) == 16  # [providers.fake] applies
    embedder.close()
    assert counted["config_reads"] == 1


def test_plan_chain_reads_once_and_refuses_duplicates(counted: dict[str, int]) -> None:
    plan = plan_chain(profile="prod")
    assert [p.label for p in plan.fallbacks] == ["dev", "backup"]
    assert counted["config_reads"] == 1
    with pytest.raises(hayswitch.ConfigurationError, match="appears twice"):
        plan_chain(profile="prod", fallbacks=["dev", "dev"])


def test_one_message_for_a_missing_default_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAYSWITCH_PROVIDER", raising=False)
    monkeypatch.delenv("HAYSWITCH_PROFILE", raising=False)
    monkeypatch.delenv("HAYSWITCH_CONFIG", raising=False)
    monkeypatch.setenv("HAYSWITCH_PLUGINS", "fake")  # 'local' is not loaded
    hayswitch.reset_registry()
    try:
        with pytest.raises(ProviderNotFoundError) as from_api:
            hayswitch.get_provider()
        with pytest.raises(ProviderNotFoundError) as from_component:
            ProviderChatGenerator().warm_up()
    finally:
        hayswitch.reset_registry()
    # The registry's note on HAYSWITCH_PLUGINS (harden) is carried by both.
    note = "HAYSWITCH_PLUGINS restricts loading to: fake; add the entry point you need or unset the variable."
    assert from_api.value.note == note
    assert from_component.value.note == note
    expected = str(default_provider_missing(["fake"], note=note))
    assert str(from_api.value) == expected
    assert str(from_component.value) == str(default_provider_missing(["fake"], "ProviderChatGenerator", note=note))
    assert str(from_component.value).endswith(expected.split(" and the default provider ", 1)[1])
