"""Provider details without the network: chat flattening, options, settings, registration."""

from __future__ import annotations

import subprocess
import sys

import pytest
from gradient_emulator import EmulatorServer
from gradient_support import FAKE_TOKEN, FAKE_WORKSPACE

import hayswitch
from hayswitch import InvalidInputError, Message
from hayswitch_gradient import GradientOptions, GradientProvider, GradientSettings
from hayswitch_gradient.prompt import flatten_messages

CHAT = [
    Message.system("Be brief."),
    Message.user("Hi"),
    Message.assistant("Hello!"),
    Message.user("Capital of France?"),
]


def test_single_user_message_is_sent_verbatim() -> None:
    for template in (None, True, False):
        assert flatten_messages([Message.user("  exact prompt\n")], auto_template=template) == "  exact prompt\n"


def test_chat_with_auto_template_is_a_plain_transcript() -> None:
    expected = "Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: Capital of France?"
    assert flatten_messages(CHAT, auto_template=None) == expected
    assert flatten_messages(CHAT, auto_template=True) == expected


def test_chat_without_auto_template_uses_the_instruction_template() -> None:
    assert flatten_messages(CHAT, auto_template=False) == (
        "Be brief.\n\n### Instruction: Hi\n\n### Response: Hello!\n\n"
        "### Instruction: Capital of France?\n\n### Response:"
    )


@pytest.mark.live
def test_generate_sends_the_flattened_query_and_auto_template(live_emulator: EmulatorServer) -> None:
    provider = hayswitch.get_provider("gradient", base_model_slug="nous-hermes2", auto_template=False)
    result = provider.generate(CHAT)
    assert result.meta["query"].endswith("### Response:")
    assert result.text.strip().startswith("nous-hermes2 answers: ### Response:")  # the query's last line
    assert result.finish_reason == "stop"


def test_options_model() -> None:
    assert GradientOptions(max_tokens=511).max_tokens == 511
    for bad in ({"max_tokens": 512}, {"top_k": 0}, {"guidance": []}, {"stop": ["x"]}, {"seed": 3}):
        with pytest.raises(InvalidInputError):
            GradientProvider.validate_options(bad)


def test_settings_serialise_as_references(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = GradientSettings(base_model_slug="nous-hermes2", access_token="env:MY_TOKEN")
    public = settings.to_public_dict()
    assert public["access_token"] == {"type": "env_var", "env_vars": ["MY_TOKEN"], "strict": True}
    assert public["workspace_id"]["env_vars"] == ["GRADIENT_WORKSPACE_ID"]
    monkeypatch.setenv("MY_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", FAKE_WORKSPACE)
    provider = GradientProvider(settings)
    assert FAKE_TOKEN not in repr(provider)
    assert provider.host == "https://api.gradient.ai/api"  # the SDK default when nothing is set
    provider.close()
    provider.close()  # idempotent


def test_capabilities_declare_what_gradient_offers() -> None:
    caps = GradientProvider.capabilities
    assert caps.embeddings
    assert caps.generation
    assert caps.fine_tuning
    assert not caps.streaming
    assert caps.max_batch_size == 256
    assert caps.embedding_dimension == 1024
    assert issubclass(GradientProvider, hayswitch.FineTuning)


def test_importing_the_package_and_plugin_loads_no_sdk_or_haystack() -> None:
    code = (
        "import sys, hayswitch_gradient, hayswitch_gradient.plugin\n"
        "print(sorted(m for m in ('gradientai', 'haystack', 'urllib3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_contract_declaration_points_at_the_shipped_cassettes() -> None:
    from gradient_support import CASSETTES, recorded_host

    from hayswitch.api import declared_contract
    from hayswitch.testing import contract_test_class

    declaration = declared_contract("gradient")
    assert declaration is not None
    assert declaration.cassette_dir == CASSETTES
    assert CASSETTES.parent.name == "hayswitch_gradient"  # package data, shipped in the wheel
    assert declaration.settings["host"] == recorded_host()
    assert declaration.class_name == "TestGradientContract"
    assert "authorization" in declaration.scrub_headers
    assert contract_test_class("gradient", live=True).cassette_dir is None
