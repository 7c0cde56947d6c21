"""``hayswitch providers`` (table and --json), with a broken plugin listed next to a working fake."""

from __future__ import annotations

import importlib.metadata
import json
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from hayswitch.cli import build_app
from hayswitch.registry import PluginWarning


@dataclass
class _Dist:
    name: str
    version: str


@dataclass
class _EP:
    name: str
    value: str
    dist: _Dist

    def load(self) -> Any:
        return importlib.import_module(self.value)


@pytest.fixture
def with_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        _EP("fake", "hayswitch.providers.fake", _Dist("hayswitch", "0.1.0")),
        _EP("broken", "hayswitch_no_such_module_xyz", _Dist("hayswitch-broken", "9.9")),
    ]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: eps)


def _app_with_warning() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)  # load problems are collected, not warned
        return build_app()


def test_providers_json_lists_fake_and_the_broken_plugin(with_broken_plugin: None) -> None:
    result = CliRunner().invoke(_app_with_warning(), ["providers", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["fake"]["status"] == "ok"
    assert rows["fake"]["distribution"] == "hayswitch"
    assert rows["fake"]["capabilities"]["embeddings"] is True
    assert rows["broken"]["status"] == "error"
    assert rows["broken"]["distribution"] == "hayswitch-broken"
    assert "No module named 'hayswitch_no_such_module_xyz'" in rows["broken"]["error"]


def test_providers_table(with_broken_plugin: None) -> None:
    result = CliRunner().invoke(_app_with_warning(), ["providers"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    fake = next(line for line in lines if "│ fake" in line)
    assert "hayswitch" in fake
    assert "0.1.0" in fake
    assert "embeddings, generation, streaming" in fake
    assert "ok" in fake
    broken = next(line for line in lines if "│ broken" in line)
    assert "hayswitch-broken" in broken
    assert "error" in broken
    assert "import failed" in result.stdout
    assert "warning:" not in result.stderr  # the table already shows the error


def test_other_commands_print_one_warning_line_per_broken_plugin(with_broken_plugin: None) -> None:
    result = CliRunner().invoke(_app_with_warning(), ["check", "--help"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1
    assert "Plugin 'broken' (distribution 'hayswitch-broken') failed to load" in lines[0]
    assert "HAYSWITCH_STRICT_PLUGINS=1" in lines[0]


def test_providers_with_no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PLUGINS", "")
    result = CliRunner().invoke(build_app(), ["providers"])
    assert result.exit_code == 0
    assert "No providers installed" in result.stdout
    result = CliRunner().invoke(build_app(), ["providers", "--json"])
    assert json.loads(result.stdout) == []


def test_version_and_help() -> None:
    result = CliRunner().invoke(build_app(), ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("hayswitch ")
    result = CliRunner().invoke(build_app(), ["--help"])
    assert "providers" in result.stdout


def test_strict_plugins_fail_the_command_cleanly(with_broken_plugin: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_STRICT_PLUGINS", "1")
    result = CliRunner().invoke(build_app(), ["providers"])
    assert result.exit_code == 2
    assert "Plugin 'broken'" in result.stderr
    assert "Traceback" not in result.output
    # the CLI itself still works
    assert CliRunner().invoke(build_app(), ["--version"]).exit_code == 0


def test_plugin_commands_that_fail_do_not_break_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from hayswitch import get_registry, hookimpl

    plugin = types.ModuleType("bad_commands")

    @hookimpl
    def register_commands(cli: Any) -> None:
        raise RuntimeError("cannot add commands")

    plugin.register_commands = register_commands  # type: ignore[attr-defined]
    get_registry().register_plugin(plugin)
    app = build_app()
    result = CliRunner().invoke(app, ["providers", "--json"])
    assert result.exit_code == 0
    result = CliRunner().invoke(app, ["check", "--help"])
    assert "warning: Plugin 'bad_commands' failed to add its commands: RuntimeError: cannot add commands" in (
        result.stderr
    )
