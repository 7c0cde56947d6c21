"""What a provider author relies on: contract declarations read by the kit and `hayswitch check`,
recording with the real credentials, cassette-mismatch advice, check descriptions taken from the
kit's docstrings, and registration errors that say what is wrong (and where)."""

from __future__ import annotations

import importlib.metadata
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

import hayswitch
from hayswitch import (
    Capabilities,
    ConfigurationError,
    ContractDeclaration,
    EmbeddingResult,
    PluginLoadError,
    Provider,
    hookimpl,
)
from hayswitch.api import declared_contract
from hayswitch.registry import PluginWarning, Registry
from hayswitch.testing import ProviderContractTests, check_descriptions, contract_test_class, use_cassette
from hayswitch.testing.cassettes import scrub_lists


class _Embedder(Provider):
    name: ClassVar[str] = "declared-demo"
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True)

    def _embed(self, texts: list[str], *, input_type: Any) -> EmbeddingResult:
        return EmbeddingResult(vectors=[[1.0, 0.0] for _ in texts], model="m")


class _DeclaringPlugin:
    def __init__(self, declaration: ContractDeclaration) -> None:
        self.declaration = declaration

    @hookimpl
    def register_providers(self, register: Callable[[type[Provider]], None]) -> None:
        register(_Embedder)

    @hookimpl
    def register_contracts(self, register: Callable[[ContractDeclaration], None]) -> None:
        register(self.declaration)


@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ContractDeclaration:
    """A process registry holding ``declared-demo`` and its declaration (cassettes in tmp_path)."""
    declaration = ContractDeclaration(
        provider="declared-demo",
        test_class_name="TestRecordedUnderThisName",
        cassette_dir=tmp_path / "cassettes",
        settings={},
        env={"DEMO_KEY": "dummy-for-replay"},
        live_settings={},
        heavy_modules=("wave",),
        scrub_headers=("x-demo-key",),
        scrub_query_params=("token",),
        kit={"long_text_words": 50},
    )
    registry = Registry(load_entry_points=False)
    registry.register_plugin(_DeclaringPlugin(declaration))
    monkeypatch.setattr("hayswitch.registry._registry", registry)
    return declaration


def test_the_declaration_is_found_through_the_hook(declared: ContractDeclaration) -> None:
    assert declared_contract("declared-demo") == declared
    assert declared_contract("fake") is None


def test_contract_test_class_uses_the_declaration(declared: ContractDeclaration, tmp_path: Path) -> None:
    (tmp_path / "cassettes").mkdir()
    cls = contract_test_class("declared-demo")
    assert issubclass(cls, ProviderContractTests)
    assert cls.__name__ == "TestRecordedUnderThisName"
    assert cls.provider_name == "declared-demo"
    assert cls.cassette_dir == tmp_path / "cassettes"
    assert dict(cls.env) == {"DEMO_KEY": "dummy-for-replay"}
    assert cls.heavy_modules == ("wave",)
    assert cls.long_text_words == 50
    live = contract_test_class("declared-demo", live=True)
    assert live.cassette_dir is None


def test_missing_cassettes_say_how_to_record(declared: ContractDeclaration, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAYSWITCH_RECORD", raising=False)
    with pytest.raises(ConfigurationError) as excinfo:
        contract_test_class("declared-demo")
    assert "HAYSWITCH_RECORD=1" in str(excinfo.value)
    assert "make record" not in str(excinfo.value)


def test_scrub_lists_come_from_the_declaration(declared: ContractDeclaration) -> None:
    headers, params = scrub_lists(_Embedder)
    assert "x-demo-key" in headers
    assert "authorization" in headers
    assert params == ("token",)


def test_unknown_kit_attributes_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="long_txt_words"):
        ContractDeclaration(provider="x", kit={"long_txt_words": 3})
    with pytest.raises(ConfigurationError, match="tuple of strings"):
        ContractDeclaration(provider="x", heavy_modules="torch")  # type: ignore[arg-type]


@pytest.mark.parametrize("record", ["", "1"])
def test_dummy_env_applies_only_when_replaying(
    declared: ContractDeclaration, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, record: str
) -> None:
    """Item 1: recording must send the real key; the dummy key is for replays only."""
    (tmp_path / "cassettes").mkdir()
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("HAYSWITCH_RECORD", record)
    monkeypatch.setenv("DEMO_KEY", "the-real-key")
    cls = contract_test_class("declared-demo")
    fixture = cls.contract_env.__wrapped__  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        fixture(cls(), patch)
        import os

        expected = "the-real-key" if record else "dummy-for-replay"
        assert os.environ["DEMO_KEY"] == expected


def test_cassette_mismatch_advises_hayswitch_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    from vcr.errors import CannotOverwriteExistingCassetteException

    monkeypatch.delenv("HAYSWITCH_RECORD", raising=False)
    cassette = tmp_path / "one.hayswitch.yaml"
    cassette.write_text(
        textwrap.dedent(
            """\
            interactions:
            - request:
                body: null
                headers: {}
                method: GET
                uri: http://127.0.0.1:9/v1/recorded
              response:
                body: {string: ok}
                headers: {}
                status: {code: 200, message: OK}
            version: 1
            """
        ),
        encoding="utf-8",
    )
    with (
        pytest.raises(CannotOverwriteExistingCassetteException) as excinfo,
        use_cassette(_Embedder, tmp_path, "one", check_all_played=False),
    ):
        urllib.request.urlopen("http://127.0.0.1:9/v1/other")
    message = str(excinfo.value)
    assert "HAYSWITCH_RECORD=1" in message
    assert "/v1/other" in message
    assert "/v1/recorded" in message  # the closest recorded request
    assert "record_mode" not in message
    # Outside use_cassette, vcrpy's own message is back.
    assert CannotOverwriteExistingCassetteException.__init__.__qualname__.startswith("CannotOverwrite")


def test_check_descriptions_come_from_the_kit_docstrings() -> None:
    descriptions = check_descriptions()
    tests = [name for name in dir(ProviderContractTests) if name.startswith("test_")]
    assert len(descriptions) == len(tests) >= 30
    assert all(descriptions.values()), [k for k, v in descriptions.items() if not v]
    assert descriptions["close_is_idempotent"] == "``close()`` can be called twice"


# --------------------------------------------------------------------------- registration errors


@dataclass
class _Dist:
    name: str
    version: str


@dataclass
class _EntryPoint:
    name: str
    value: str
    dist: _Dist | None
    group: str = "hayswitch"

    def load(self) -> Any:
        return importlib.import_module(self.value)


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str, str, str], None]:
    monkeypatch.syspath_prepend(str(tmp_path))
    entries: list[_EntryPoint] = []
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kwargs: list(entries))
    monkeypatch.setattr("hayswitch.registry._registry", None)

    def add(ep_name: str, module: str, source: str) -> None:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        entries.append(_EntryPoint(ep_name, module, _Dist(f"hayswitch-{ep_name}", "1.0")))

    return add


def test_import_failure_names_file_and_line(entry_points: Callable[[str, str, str], None], tmp_path: Path) -> None:
    entry_points("broken-demo", "hs_author_broken", "import os\n\nraise RuntimeError('boom')\n")
    with pytest.warns(PluginWarning) as caught:
        rows = {r.name: r for r in hayswitch.list_providers()}
    error = rows["broken-demo"].error or ""
    assert f"{tmp_path / 'hs_author_broken.py'}:3" in error
    assert any("hs_author_broken.py:3" in str(w.message) for w in caught)


def test_syntax_error_names_file_and_line(entry_points: Callable[[str, str, str], None], tmp_path: Path) -> None:
    entry_points("syntax-demo", "hs_author_syntax", "x = 1\ndef broken(:\n")
    with pytest.warns(PluginWarning):
        rows = {r.name: r for r in hayswitch.list_providers()}
    assert "hs_author_syntax.py:2" in (rows["syntax-demo"].error or "")


def test_entry_point_named_differently_from_its_provider(entry_points: Callable[[str, str, str], None]) -> None:
    """The plugin 'acme-plugin' provides 'acme' but fails: asking for 'acme' names that plugin
    instead of saying 'Unknown provider ... install hayswitch-acme'."""
    entry_points("acme-plugin", "hs_author_acme", "raise ImportError('missing acme SDK')\n")
    with pytest.warns(PluginWarning), pytest.raises(PluginLoadError) as excinfo:
        hayswitch.get_provider_class("acme")
    message = str(excinfo.value)
    assert "acme-plugin" in message
    assert "missing acme SDK" in message
    assert "Unknown provider" not in message


_BAD_CLASSES = {
    "long_text_method": """
        def long_text_behaviour(self):
            return "error"
    """,
    "streaming_without_stream": """
        capabilities = Capabilities(embeddings=True, generation=True, streaming=True)

        def _generate(self, messages, options):
            raise NotImplementedError
    """,
}


@pytest.mark.parametrize(
    ("case", "problem"), [("long_text_method", "must be a property"), ("streaming_without_stream", "_stream()")]
)
def test_inconsistent_provider_classes_are_refused(
    entry_points: Callable[[str, str, str], None], case: str, problem: str
) -> None:
    body = textwrap.indent(textwrap.dedent(_BAD_CLASSES[case]), "    ")
    source = (
        "from hayswitch import Capabilities, EmbeddingResult, Provider, hookimpl\n\n"
        "class Bad(Provider):\n"
        f"    name = 'bad-{case.replace('_', '-')}'\n"
        "    capabilities = Capabilities(embeddings=True)\n\n"
        "    def _embed(self, texts, *, input_type):\n"
        "        return EmbeddingResult(vectors=[[1.0] for _ in texts], model='m')\n"
        f"{body}\n\n"
        "@hookimpl\n"
        "def register_providers(register):\n"
        "    register(Bad)\n"
    )
    entry_points(f"bad-{case.replace('_', '-')}", f"hs_author_{case}", source)
    with pytest.warns(PluginWarning):
        rows = {r.name: r for r in hayswitch.list_providers()}
    row = rows[f"bad-{case.replace('_', '-')}"]
    assert row.error is not None
    assert problem in row.error
    assert row.capabilities is None  # not listed as a (streaming) provider


def test_long_text_behaviour_property_is_accepted() -> None:
    class Fine(_Embedder):
        name: ClassVar[str] = "fine-demo"

        @property
        def long_text_behaviour(self) -> Literal["truncate", "error"]:
            return "error"

    registry = Registry(load_entry_points=False)
    registry.register(Fine)
    assert registry.get_class("fine-demo") is Fine
