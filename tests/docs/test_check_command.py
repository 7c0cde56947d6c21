"""``hayswitch check NAME``: the contract kit against installed providers, as a command.

The command runs pytest in its own process, so these tests call it through a subprocess (a
nested pytest session inside this one would share its plugins and capture).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hayswitch.cli import check
from hayswitch.errors import ConfigurationError
from hayswitch.providers.fake import FakeProvider

HAYSWITCH = Path(sys.executable).with_name("hayswitch")


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HAYSWITCH), "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_provider_template_passes_check() -> None:
    """The template distribution (hayswitch-wordbag) passes the whole kit from its declared settings."""
    proc = run_check("wordbag")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wordbag passes the hayswitch provider contract" in proc.stdout
    assert "FAIL" not in proc.stdout


def test_json_report_lists_every_check() -> None:
    proc = run_check("wordbag", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["provider"] == "wordbag"
    assert report["ok"] is True
    outcomes = {c["check"]: c["outcome"] for c in report["checks"]}
    assert len(outcomes) >= 25
    assert outcomes["discovered_by_name_through_registry"] == "passed"
    assert outcomes["embed_batch_one_above_max_size"] == "passed"
    assert set(outcomes.values()) <= {"passed", "skipped"}
    skipped = [c for c in report["checks"] if c["outcome"] == "skipped"]
    assert all(c["message"].startswith("not applicable") for c in skipped)


def test_failing_checks_are_explained_and_exit_non_zero() -> None:
    proc = run_check(
        "fake",
        "--setting",
        "fail_first=1000000",
        "-s",
        "fail_with=server",
        "-k",
        "embed_documents_cardinality or generate_returns or empty_list",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAIL embed_documents_cardinality_and_order: One vector per text, in input order" in out
    assert "ServerError" in out
    assert "embed_empty_list_makes_no_request" in out  # no request needed: still passes
    assert "2 check(s) failed" in out


def test_unknown_provider_is_a_configuration_error() -> None:
    proc = run_check("no-such-provider")
    assert proc.returncode == 2
    assert "Unknown provider 'no-such-provider'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_cassette_dir_is_refused_before_running(tmp_path: Path) -> None:
    proc = run_check("fake", "--cassette-dir", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr


def test_contract_settings_are_read_from_the_provider_class(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def contract_settings(cls: type, live: bool = False) -> dict[str, Any]:
        if live:
            return {"settings": {"dimension": 8}}
        return {"settings": {"dimension": 16}, "cassette_dir": tmp_path, "test_class_name": "TestFakeRecorded"}

    monkeypatch.setattr(FakeProvider, "contract_settings", classmethod(contract_settings))
    replay = check.build_contract_class("fake")
    assert replay.__name__ == "TestFakeRecorded"
    assert replay.settings == {"dimension": 16}  # type: ignore[attr-defined]
    assert replay.cassette_dir == tmp_path  # type: ignore[attr-defined]
    live = check.build_contract_class("fake", live=True, settings={"max_tokens": 4})
    assert live.settings == {"dimension": 8, "max_tokens": 4}  # type: ignore[attr-defined]
    assert live.cassette_dir is None  # type: ignore[attr-defined]
    assert live.__name__ == "TestFakeContract"


def test_unknown_contract_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeProvider, "contract_settings", classmethod(lambda cls, live=False: {"setings": {}}))
    with pytest.raises(ConfigurationError, match=r"unknown keys \['setings'\]"):
        check.build_contract_class("fake")


def test_setting_values_are_parsed_as_json() -> None:
    assert check._parse_settings(["dimension=32", "host=http://127.0.0.1:1/v1", 'fail_on=["x"]']) == {
        "dimension": 32,
        "host": "http://127.0.0.1:1/v1",
        "fail_on": ["x"],
    }
    with pytest.raises(ConfigurationError, match="KEY=VALUE"):
        check._parse_settings(["dimension"])


GRADIENT_CASSETTES = Path(__file__).resolve().parents[2] / "providers/gradient/src/hayswitch_gradient/cassettes"


@pytest.mark.cassette
@pytest.mark.skipif(
    importlib.util.find_spec("hayswitch_gradient") is None or not GRADIENT_CASSETTES.is_dir(),
    reason="hayswitch-gradient or its cassettes are not installed",
)
def test_check_replays_a_providers_cassettes() -> None:
    """`check` on an HTTP provider from its recorded cassettes (the gradient provider's own,
    recorded with the real SDK against the emulator), with replay credentials and settings."""
    host = json.loads((GRADIENT_CASSETTES / "recorded_host.json").read_text(encoding="utf-8"))["host"]
    proc = subprocess.run(
        [
            str(HAYSWITCH),
            "check",
            "gradient",
            "--cassette-dir",
            str(GRADIENT_CASSETTES),
            "-s",
            f"host={host}",
            "-s",
            "base_model_slug=nous-hermes2",
            "-s",
            "timeout=30",
            "-k",
            "embed_documents_cardinality or embed_batch_one_above or generate_returns or async_generate",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            **os.environ,
            "GRADIENT_ACCESS_TOKEN": "fake-gradient-token-for-tests",
            "GRADIENT_WORKSPACE_ID": "fake-workspace-for-tests_workspace",
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    outcomes = {c["check"]: c["outcome"] for c in report["checks"]}
    assert outcomes == {
        "embed_documents_cardinality_and_order": "passed",
        "embed_batch_one_above_max_size": "passed",
        "generate_returns_text_and_finish_reason": "passed",
        "async_generate_matches_sync": "passed",
    }
