"""``hayswitch new-provider``: the generated package installs from its wheel and passes
``hayswitch check NAME`` offline before its author changes a line.

The end-to-end test generates a package (recording its cassettes against the generated stub on
127.0.0.1), builds its wheel offline, installs the wheel into a temporary target, deletes the
generated sources, and runs ``hayswitch check`` from the installed files only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hayswitch.cli import build_app
from hayswitch.scaffold import ScaffoldError, new_provider, package_files, validate_name

PIP = (sys.executable, "-m", "pip")
NAME = "acme-scaffold"
MODULE = "hayswitch_acme_scaffold"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAYSWITCH_") and k != "CI"}
    env.pop("ACME_SCAFFOLD_API_KEY", None)
    env.update(extra)
    return env


@pytest.mark.parametrize("bad", ["", "Acme", "1acme", "acme!", "acme--x", "-acme", "acme_"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(ScaffoldError, match="lowercase letters"):
        validate_name(bad)


def test_files_of_the_package() -> None:
    files = package_files(NAME, port=18000)
    assert {
        "pyproject.toml",
        "README.md",
        f"src/{MODULE}/__init__.py",
        f"src/{MODULE}/settings.py",
        f"src/{MODULE}/provider.py",
        f"src/{MODULE}/plugin.py",
        f"src/{MODULE}/py.typed",
        "tests/stub_server.py",
        "tests/test_contract.py",
        "tests/test_errors.py",
    } <= set(files)
    assert f'{NAME} = "{MODULE}.plugin"' in files["pyproject.toml"]
    assert "127.0.0.1:18000" in files[f"src/{MODULE}/plugin.py"]
    assert 'name = "acme-scaffold"' in files[f"src/{MODULE}/provider.py"]
    assert "class AcmeScaffoldProvider(Provider)" in files[f"src/{MODULE}/provider.py"]
    assert "{{" not in "".join(files.values())
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")  # valid Python


def test_existing_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="not empty"):
        new_provider(NAME, tmp_path, record=False)
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_no_record_writes_the_files_only(tmp_path: Path) -> None:
    result = new_provider(NAME, tmp_path / "pkg", record=False)
    assert (tmp_path / "pkg" / "pyproject.toml").is_file()
    assert result.cassettes == []
    assert not list((tmp_path / "pkg" / "src" / MODULE / "cassettes").glob("*.yaml"))


def test_cli_reports_a_bad_name_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["new-provider", "Bad Name", "--dir", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "lowercase letters" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_generated_package_installs_from_its_wheel_and_passes_check_offline(tmp_path: Path) -> None:
    package = tmp_path / "hayswitch-acme-scaffold"
    result = CliRunner().invoke(build_app(), ["new-provider", NAME, "--dir", str(package)])
    assert result.exit_code == 0, result.output
    assert "Recorded" in result.output
    cassettes = sorted((package / "src" / MODULE / "cassettes").glob("*.hayswitch.yaml"))
    assert len(cassettes) >= 14
    for cassette in cassettes:
        text = cassette.read_text(encoding="utf-8")
        assert f"stub-key-{NAME}" not in text  # the key used to record is scrubbed
        assert "REDACTED" in text

    # The generated code passes ruff (with the package's own configuration) as generated.
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(package)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(wheels), str(package)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("hayswitch_acme_scaffold-0.1.0-*.whl")
    target = tmp_path / "site"
    install = subprocess.run(
        [*PIP, "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert len(list((target / MODULE / "cassettes").glob("*.hayswitch.yaml"))) == len(cassettes)

    # Only the installed files from now on; the stub server is not running.
    import shutil

    shutil.rmtree(package)
    pythonpath = os.pathsep.join([str(target), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    check = subprocess.run(
        [sys.executable, "-c", "from hayswitch.cli import main; main()", "check", NAME, "--json"],
        cwd=tmp_path,
        env=_clean_env(PYTHONPATH=pythonpath, HAYSWITCH_STRICT_PLUGINS="1"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-4000:]
    report = json.loads(check.stdout)
    assert report["ok"] is True
    outcomes = {c["check"]: c["outcome"] for c in report["checks"]}
    assert len(outcomes) >= 30
    # Not applicable to the generated provider: it implements every operation and declares no tools
    # and no structured output.
    assert {k for k, v in outcomes.items() if v != "passed"} == {
        "unsupported_operations_raise_unsupported_operation",
        "invalid_tool_requests_fail_before_any_request",
        "tool_call_round_trip",
        "stream_tool_call",
        "structured_output_is_schema_valid",
    }
    assert outcomes["tool_capabilities_are_declared"] == "passed"
    assert outcomes["discovered_by_name_through_registry"] == "passed"
    assert outcomes["stream_yields_chunks_with_final_finish_reason"] == "passed"
