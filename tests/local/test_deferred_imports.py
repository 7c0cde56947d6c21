"""The ``hayswitch`` command keeps ``import haystack`` from importing PyTorch and PostHog
(:mod:`hayswitch.cli._deferred_imports`), and both still work wherever they are used.

Each check runs in a fresh interpreter: whether torch is imported is a property of the process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed: there is nothing to defer"
)

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_haystack_is_imported_without_torch_and_torch_loads_on_first_use() -> None:
    out = run_python(
        """
        import sys
        from hayswitch.cli import _deferred_imports
        _deferred_imports.install()
        import haystack
        from haystack import Document, Pipeline
        import haystack.utils.device as device
        print("after import:", "torch" in sys.modules, "posthog" in sys.modules)
        # Haystack's own use of torch goes through the stand-in to the real module.
        dev = device.ComponentDevice.from_single(device.Device.cpu()).to_torch()
        import torch
        print("real:", type(torch).__name__, sys.modules["torch"] is torch, isinstance(dev, torch.device))
        print("same:", device.torch.device is torch.device, device.torch.ones(2).sum().item())
        print("hook gone:", not any(type(f).__name__ == "_HaystackFinder" for f in sys.meta_path))
        """
    )
    assert out.splitlines() == [
        "after import: False False",
        "real: module True True",
        "same: True 2.0",
        "hook gone: True",
    ]


def test_import_torch_after_haystack_is_the_ordinary_module() -> None:
    out = run_python(
        """
        import sys
        from hayswitch.cli import _deferred_imports
        _deferred_imports.install()
        import haystack
        import torch.nn.functional as F
        import torch
        print(type(torch).__name__, F is sys.modules["torch.nn.functional"], torch.nn.functional is F)
        print(float(F.relu(torch.tensor([-1.0, 2.0])).sum()))
        """
    )
    assert out.splitlines() == ["module True True", "2.0"]


def test_a_module_already_imported_is_left_alone() -> None:
    out = run_python(
        """
        import sys
        import torch
        from hayswitch.cli import _deferred_imports
        _deferred_imports.install()
        import haystack.utils.device as device
        import haystack.telemetry._telemetry as telemetry
        print(device.torch is torch, type(telemetry.posthog).__name__, "posthog" in sys.modules)
        """
    )
    assert out.split() == ["True", "_DeferredModule", "False"]


def test_setting_an_attribute_on_a_stand_in_sets_it_on_the_real_module() -> None:
    """Haystack's telemetry (when a user opts in) configures PostHog by setting its attributes."""
    out = run_python(
        """
        from hayswitch.cli import _deferred_imports
        _deferred_imports.install()
        import haystack.telemetry._telemetry as telemetry
        telemetry.posthog.host = "http://127.0.0.1:9"
        import posthog
        print(posthog.host, telemetry.posthog.host, telemetry.posthog.capture is posthog.capture)
        """
    )
    assert out.split() == ["http://127.0.0.1:9", "http://127.0.0.1:9", "True"]


def test_the_ask_command_does_not_import_torch(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Install\n\nRun pip install hayswitch to install it.\n")
    code = """
        import atexit, json, sys
        atexit.register(lambda: print(json.dumps({"torch": "torch" in sys.modules}), file=sys.stderr))
        sys.argv = ["hayswitch", *sys.argv[1:]]
        from hayswitch.cli import main
        main()
        """
    env = {"HAYSWITCH_PROVIDER": "fake"}
    run_python(code, "index", "docs", "--store", "store", "-q", cwd=tmp_path, env=env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), "ask", "How do I install it?", "--store", "store", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False", **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["sources"][0]["file"] == "docs/a.md"
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == {"torch": False}


@pytest.mark.slow
def test_the_local_provider_on_torch_works_from_the_command(tmp_path: Path) -> None:
    """The ``local`` provider with its PyTorch embedding backend, through the command (where
    Haystack was imported with the stand-in): the real torch is loaded and embeds."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Install\n\nRun pip install hayswitch to install it.\n")
    env = {"HAYSWITCH_PROVIDER": "local", "HAYSWITCH_LOCAL__EMBEDDING_BACKEND": "torch", "TRANSFORMERS_OFFLINE": "1"}
    out = run_python(
        """
        import sys
        sys.argv = ["hayswitch", "index", "docs", "--store", "store", "-q", "--no-cache"]
        from hayswitch.cli import main
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        import torch
        from hayswitch.cli.store import PassageStore, StoreLocation
        got = PassageStore.open(StoreLocation.parse("store")).passages.get(include=["embeddings"])["embeddings"][0]
        print(type(torch).__name__, len(got), repr(float(got[0])))
        """,
        cwd=tmp_path,
        env=env,
    )
    kind, dimension, first = out.splitlines()[-1].split()
    assert (kind, dimension) == ("module", "384")
    assert 0 < abs(float(first)) < 1
