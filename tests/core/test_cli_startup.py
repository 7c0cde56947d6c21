"""What a ``hayswitch`` process loads and does on its way in and out (the ``ask`` start-up work).

Which modules are imported and whether the collector is frozen are properties of a whole
process, so each check runs in a fresh interpreter. Nothing here is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ENV = {"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "HAYSWITCH_PROVIDER": "fake"}

# Runs the console script's entry point with sys.argv[1:], and reports at exit (after every other
# atexit handler: handlers run last-registered first) what the process imported and whether the
# objects left behind were frozen out of the final garbage collections.
MAIN = """
    import atexit, gc, json, sys
    atexit.register(
        lambda: print(
            "REPORT "
            + json.dumps(
                {
                    "frozen": gc.get_freeze_count(),
                    "collecting": gc.isenabled(),
                    "jsonschema": "jsonschema" in sys.modules,
                }
            ),
            file=sys.stderr,
        )
    )
    sys.argv = ["hayswitch", *sys.argv[1:]]
    from hayswitch.cli import main
    main()
"""


def run(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **ENV},
    )


def report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("REPORT ")][-1]
    result: dict[str, Any] = json.loads(line.removeprefix("REPORT "))
    return result


def test_importing_hayswitch_leaves_jsonschema_until_a_schema_is_checked() -> None:
    proc = run(
        """
        import sys
        import hayswitch, hayswitch.tooling
        from hayswitch import GenerationOptions, InvalidInputError, ResponseFormat
        print("after import:", "jsonschema" in sys.modules)
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        print("errors:", hayswitch.tooling.schema_errors({"n": "x"}, schema))
        capabilities = hayswitch.Capabilities(structured_output="native")
        try:
            hayswitch.tooling.check_options(
                GenerationOptions(response_format=ResponseFormat(schema={"type": 12})), capabilities, "fake"
            )
        except InvalidInputError as exc:
            print("refused:", exc)
        print("after use:", "jsonschema" in sys.modules)
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "after import: False"
    assert lines[1] == "errors: [\"n: 'x' is not of type 'integer'\"]"
    assert lines[2].startswith("refused: Invalid JSON schema in response_format: ")
    assert lines[3] == "after use: True"


def test_the_providers_command_does_not_import_jsonschema(tmp_path: Path) -> None:
    proc = run(MAIN, "providers", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fake" in {row["name"] for row in json.loads(proc.stdout)}
    assert report(proc)["jsonschema"] is False


def test_ask_works_without_the_collector_and_index_keeps_it(tmp_path: Path) -> None:
    """``ask`` (read-only) runs with the collector off and freezes what it leaves behind;
    ``index`` must not: an embedded Chroma store persists its vector index when its objects are
    collected at exit."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Install\n\nRun pip install hayswitch to install it.\n")
    indexed = run(MAIN, "index", "docs", "--store", "store", "-q", cwd=tmp_path)
    assert indexed.returncode == 0, indexed.stderr[-3000:]
    assert report(indexed)["frozen"] == 0
    assert report(indexed)["collecting"] is True

    asked = run(MAIN, "ask", "How do I install it?", "--store", "store", "--json", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr[-3000:]
    assert json.loads(asked.stdout)["sources"][0]["file"] == "docs/a.md"
    assert report(asked)["frozen"] > 0
    assert report(asked)["collecting"] is False

    # A failed question exits as before (code and message), with the collector as it was.
    empty = run(MAIN, "ask", "  ", "--store", "store", cwd=tmp_path)
    assert empty.returncode == 3
    assert "error: the question is empty" in empty.stderr
    assert report(empty)["frozen"] == 0
    assert report(empty)["collecting"] is True
    missing = run(MAIN, "ask", "How do I install it?", "--store", "nowhere", cwd=tmp_path)
    assert missing.returncode == 3
    assert "There is no store at nowhere" in missing.stderr
    assert report(missing)["frozen"] == 0
    assert report(missing)["collecting"] is True


def test_ask_under_a_test_runner_leaves_the_collector_alone(tmp_path: Path) -> None:
    """Outside the console script (CliRunner, a program calling the commands) nothing is frozen."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Install\n\nRun pip install hayswitch to install it.\n")
    proc = run(
        """
        import gc, json
        from typer.testing import CliRunner
        from hayswitch.cli import build_app
        runner = CliRunner()
        app = build_app()
        assert runner.invoke(app, ["index", "docs", "--store", "store", "-q"]).exit_code == 0
        result = runner.invoke(app, ["ask", "How do I install it?", "--store", "store", "--json"])
        source = json.loads(result.stdout)["sources"][0]["file"]
        print(result.exit_code, source, gc.get_freeze_count(), gc.isenabled())
        """,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["0", "docs/a.md", "0", "True"]
