"""Provider discovery: entry points loaded in isolation, broken/duplicate/filtered plugins, strict
mode, and discovery from real installed distributions."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import hayswitch
from hayswitch import (
    ConfigurationError,
    DuplicateProviderError,
    PluginLoadError,
    ProviderNotFoundError,
    get_provider,
    get_provider_class,
    list_providers,
)
from hayswitch.providers.fake import FakeProvider
from hayswitch.registry import PluginWarning, Registry

PLUGIN_TEMPLATE = """
from typing import ClassVar

from hayswitch import Capabilities, EmbeddingResult, Provider, hookimpl


class {cls}(Provider):
    name: ClassVar[str] = {name!r}
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True)

    def _embed(self, texts, *, input_type):
        return EmbeddingResult(vectors=[[1.0] for _ in texts], model="m")


@hookimpl
def register_providers(register):
    register({cls})
"""


@dataclass
class FakeDist:
    name: str
    version: str


@dataclass
class FakeEntryPoint:
    """Quacks like importlib.metadata.EntryPoint (name, value, group, dist, load)."""

    name: str
    value: str
    dist: FakeDist | None
    group: str = "hayswitch"

    def load(self) -> Any:
        return importlib.import_module(self.value)


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Write plugin modules to a temporary directory and fake the entry-point list."""
    monkeypatch.syspath_prepend(str(tmp_path))
    prefix = "hsplug_" + tmp_path.name.replace("-", "_").lower()
    entries: list[FakeEntryPoint] = []

    def fake_entry_points(**kwargs: Any) -> list[FakeEntryPoint]:
        assert kwargs == {"group": "hayswitch"}
        return list(entries)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)

    class Plugins:
        def add(
            self, ep_name: str, source: str | None, dist: str = "hayswitch-x", version: str = "1.0", suffix: str = ""
        ) -> str:
            module = f"{prefix}_{ep_name.replace('-', '_')}{suffix}"
            if source is not None:
                (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            entries.append(FakeEntryPoint(ep_name, module, FakeDist(dist, version)))
            return module

        def provider(
            self, ep_name: str, provider_name: str, dist: str = "hayswitch-x", cls: str = "P", suffix: str = ""
        ) -> str:
            return self.add(ep_name, PLUGIN_TEMPLATE.format(cls=cls, name=provider_name), dist, suffix=suffix)

        def fake(self) -> None:
            entries.append(FakeEntryPoint("fake", "hayswitch.providers.fake", FakeDist("hayswitch", "0.1.0")))

    return Plugins()


def _rows() -> dict[str, Any]:
    with pytest.warns(PluginWarning):
        return {r.name: r for r in list_providers()}


# --------------------------------------------------------------------------- isolation


def test_broken_import_is_listed_with_its_error_and_others_keep_working(plugins: Any) -> None:
    plugins.fake()
    plugins.add("broken", "import does_not_exist_anywhere_12345\n", dist="hayswitch-broken", version="0.3")
    rows = _rows()
    assert rows["broken"].error is not None
    assert "import failed: ModuleNotFoundError" in rows["broken"].error
    assert rows["broken"].distribution == "hayswitch-broken"
    assert rows["broken"].version == "0.3"
    assert rows["fake"].error is None
    assert get_provider("fake").embed_text("still works").dimension == 64
    with pytest.raises(PluginLoadError, match="broken") as excinfo:
        get_provider_class("broken")
    assert excinfo.value.distribution == "hayswitch-broken"


def test_missing_module_is_reported(plugins: Any) -> None:
    plugins.add("ghost", None)
    rows = _rows()
    assert "import failed" in (rows["ghost"].error or "")


def test_hook_that_raises_is_recorded_and_skipped(plugins: Any) -> None:
    plugins.fake()
    plugins.add(
        "raiser",
        """
        from hayswitch import hookimpl

        @hookimpl
        def register_providers(register):
            raise RuntimeError("boom in hook")
        """,
    )
    rows = _rows()
    assert (rows["raiser"].error or "").startswith("register_providers() raised RuntimeError: boom in hook")
    assert "raiser.py:6)" in (rows["raiser"].error or "")  # where it raised
    assert rows["fake"].ok


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("register(object)", "takes a hayswitch.Provider subclass"),
        ("register(Bad)", "must be a lowercase identifier"),
        ("register(NoSettings)", "settings_model must subclass"),
        ("register(BadCaps)", "capabilities must be a hayswitch.Capabilities"),
    ],
)
def test_invalid_registrations_are_refused(plugins: Any, body: str, problem: str) -> None:
    plugins.fake()
    plugins.add(
        "invalid",
        f"""
        from typing import ClassVar
        from pydantic import BaseModel
        from hayswitch import Provider, hookimpl

        class Bad(Provider):
            name: ClassVar[str] = "Not A Name"

        class NoSettings(Provider):
            name: ClassVar[str] = "nosettings"
            settings_model = BaseModel

        class BadCaps(Provider):
            name: ClassVar[str] = "badcaps"
            capabilities = {{"embeddings": True}}

        @hookimpl
        def register_providers(register):
            {body}
        """,
    )
    rows = _rows()
    assert problem in (rows["invalid"].error or "")
    assert set(hayswitch.get_registry().names()) == {"fake"}


def test_a_failed_hook_registers_nothing_from_that_plugin(plugins: Any) -> None:
    plugins.add(
        "half",
        PLUGIN_TEMPLATE.format(cls="Good", name="good-one").replace(
            "    register(Good)", "    register(Good)\n    raise ValueError('then fails')"
        ),
    )
    rows = _rows()
    assert "good-one" not in rows
    assert "then fails" in (rows["half"].error or "")


def test_plugin_objects_that_are_not_hook_modules_are_refused(plugins: Any) -> None:
    plugins.add(
        "wronghook",
        """
        from hayswitch import hookimpl

        @hookimpl
        def register_provider(register):  # typo: not a hayswitch hook
            pass
        """,
    )
    rows = _rows()
    error = rows["wronghook"].error or ""
    assert "'register_provider' is not a hayswitch hook" in error
    assert "register_providers" in error


def test_plugin_module_without_hooks_is_reported(plugins: Any) -> None:
    plugins.add("empty", "X = 1\n")
    rows = _rows()
    assert "defines no @hayswitch.hookimpl function" in (rows["empty"].error or "")


# --------------------------------------------------------------------------- duplicates


def test_duplicate_names_name_both_distributions(plugins: Any) -> None:
    plugins.provider("one", "twin", dist="hayswitch-one")
    plugins.provider("two", "twin", dist="hayswitch-two", cls="Q")
    rows = _rows()
    message = rows["twin"].error or ""
    assert "'hayswitch-one'" in message
    assert "'hayswitch-two'" in message
    assert "twin" not in hayswitch.get_registry().names()
    with pytest.raises(DuplicateProviderError) as excinfo:
        get_provider_class("twin")
    assert "hayswitch-one" in excinfo.value.first
    assert "hayswitch-two" in excinfo.value.second


def test_duplicate_under_strict_mode_raises(plugins: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_STRICT_PLUGINS", "1")
    plugins.provider("one", "twin", dist="hayswitch-one")
    plugins.provider("two", "twin", dist="hayswitch-two", cls="Q")
    with pytest.raises(DuplicateProviderError, match="hayswitch-two"), pytest.warns(PluginWarning):
        list_providers()


def test_registering_the_same_class_twice_is_not_a_conflict(plugins: Any) -> None:
    plugins.fake()
    registry = hayswitch.get_registry()
    registry.register(FakeProvider)
    assert registry.names() == ["fake"]


# --------------------------------------------------------------------------- filtering and strictness


def test_hayswitch_plugins_restricts_loading(plugins: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins.fake()
    plugins.add("broken", "raise ImportError('never imported')\n")
    plugins.provider("other", "other")
    monkeypatch.setenv("HAYSWITCH_PLUGINS", " fake , other ")
    rows = {r.name: r for r in list_providers()}  # no warning: 'broken' is not even imported
    assert set(rows) == {"fake", "other"}


@pytest.mark.parametrize("value", ["", " ", ",", " , "])
def test_empty_hayswitch_plugins_loads_none(plugins: Any, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    plugins.fake()
    monkeypatch.setenv("HAYSWITCH_PLUGINS", value)
    assert list_providers() == []
    with pytest.raises(ProviderNotFoundError, match="Available providers: none"):
        get_provider("fake")


@pytest.mark.parametrize("flag", ["1", "true", "YES", "on"])
def test_strict_plugins_turns_load_failures_into_errors(
    plugins: Any, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    plugins.fake()
    plugins.add("broken", "raise RuntimeError('kaputt')\n", dist="hayswitch-broken")
    monkeypatch.setenv("HAYSWITCH_STRICT_PLUGINS", flag)
    with pytest.raises(PluginLoadError, match="kaputt") as excinfo:
        list_providers()
    assert "hayswitch-broken" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, RuntimeError)


@pytest.mark.parametrize("flag", ["0", "", "false", "no"])
def test_non_strict_values_only_warn(plugins: Any, monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    plugins.add("broken", "raise RuntimeError('kaputt')\n")
    monkeypatch.setenv("HAYSWITCH_STRICT_PLUGINS", flag)
    with pytest.warns(PluginWarning, match="HAYSWITCH_STRICT_PLUGINS=1"):
        list_providers()


def test_registry_with_explicit_environment(plugins: Any) -> None:
    plugins.fake()
    plugins.provider("other", "other")
    assert Registry(environ={"HAYSWITCH_PLUGINS": "other"}).names() == ["other"]
    assert Registry(load_entry_points=False).names() == []


def test_loading_is_lazy_and_idempotent(plugins: Any) -> None:
    plugins.fake()
    registry = Registry()
    assert registry.load() is registry.load()
    assert registry.names() == ["fake"]
    assert len(registry.plugins()) == 1


# --------------------------------------------------------------------------- lookups


def test_unknown_name_suggests_the_closest(plugins: Any) -> None:
    plugins.fake()
    plugins.provider("other", "gradient")
    with pytest.raises(ProviderNotFoundError) as excinfo:
        get_provider("gradiant")
    message = str(excinfo.value)
    assert "Did you mean 'gradient'?" in message
    assert "Available providers: fake, gradient" in message
    assert excinfo.value.suggestion == "gradient"


def test_unknown_name_without_close_match(plugins: Any) -> None:
    plugins.fake()
    with pytest.raises(ProviderNotFoundError) as excinfo:
        get_provider_class("zzzzzz")
    assert excinfo.value.suggestion is None
    assert "Did you mean" not in str(excinfo.value)
    assert "usually 'hayswitch-zzzzzz'" in str(excinfo.value)
    assert "hayswitch providers" in str(excinfo.value)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_invalid_names_are_refused(plugins: Any, bad: Any) -> None:
    plugins.fake()
    with pytest.raises(ProviderNotFoundError):
        get_provider_class(bad)


def test_no_default_provider_message(plugins: Any) -> None:
    plugins.fake()  # 'local' is not installed in this registry
    with pytest.raises(ProviderNotFoundError) as excinfo:
        get_provider()
    message = str(excinfo.value)
    assert "No provider is configured" in message
    assert "pip install hayswitch-local" in message
    assert "HAYSWITCH_PROVIDER" in message
    assert "Installed providers: fake." in message


def test_direct_registration_validates_the_class() -> None:
    registry = Registry(load_entry_points=False)
    with pytest.raises(ConfigurationError, match="Provider subclass"):
        registry.register(int)  # type: ignore[arg-type]
    registry.register(FakeProvider)
    assert registry.get_class("fake") is FakeProvider


# --------------------------------------------------------------------------- real distributions


def test_fake_is_discovered_from_the_installed_hayswitch_distribution() -> None:
    eps = [ep for ep in importlib.metadata.entry_points(group="hayswitch") if ep.name == "fake"]
    assert eps, "the installed hayswitch distribution declares no 'fake' entry point"
    assert eps[0].value == "hayswitch.providers.fake"
    rows = {r.name: r for r in list_providers()}
    assert rows["fake"].distribution == "hayswitch"
    assert rows["fake"].version == importlib.metadata.version("hayswitch")
    assert rows["fake"].provider_class is FakeProvider
    assert rows["fake"].to_dict()["status"] == "ok"


def _write_dist(root: Path, dist: str, version: str, module: str, source: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[hayswitch]\n{dist.split('-')[-1]} = {module}\n", encoding="utf-8")


def test_cli_lists_real_distributions_including_a_broken_one(tmp_path: Path) -> None:
    """Two distributions installed on sys.path (dist-info + entry_points.txt, as pip writes them):
    a working one is listed with its version, a broken one with its error, and fake still works."""
    _write_dist(tmp_path, "hayswitch-echo", "1.2.3", "hs_echo_plugin", PLUGIN_TEMPLATE.format(cls="E", name="echo"))
    _write_dist(tmp_path, "hayswitch-kaputt", "0.0.1", "hs_kaputt_plugin", "import no_such_sdk_anywhere\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAYSWITCH_")}
    env["PYTHONPATH"] = str(tmp_path)
    cli = [sys.executable, "-c", "from hayswitch.cli import main; main()"]
    proc = subprocess.run([*cli, "providers", "--json"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["echo"]["distribution"] == "hayswitch-echo"
    assert rows["echo"]["version"] == "1.2.3"
    assert rows["echo"]["status"] == "ok"
    assert rows["kaputt"]["status"] == "error"
    assert "No module named 'no_such_sdk_anywhere'" in rows["kaputt"]["error"]
    assert rows["fake"]["status"] == "ok"
    code = "import hayswitch; print(hayswitch.get_provider('fake').embed_text('hi').dimension)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "64"
    assert "hayswitch-kaputt" in proc.stderr  # the warning names the broken distribution


def test_entry_point_name_used_by_two_distributions(plugins: Any) -> None:
    plugins.provider("same", "first-provider", dist="hayswitch-a", cls="A")
    plugins.provider("same", "second-provider", dist="hayswitch-b", cls="B", suffix="_b")
    with pytest.warns(PluginWarning, match="entry point name 'same' is already used by distribution 'hayswitch-a'"):
        names = hayswitch.get_registry().names()
    assert names == ["first-provider"]


def test_the_same_plugin_listed_twice_loads_once(plugins: Any) -> None:
    plugins.fake()
    plugins.fake()
    registry = hayswitch.get_registry()
    assert registry.names() == ["fake"]
    assert [p.name for p in registry.plugins()] == ["fake"]
    assert all(row.ok for row in list_providers())
