"""``hayswitch new-provider NAME``: write a complete provider package that passes the contract.

The generated package (``hayswitch-NAME``) holds a provider over HTTP (stdlib ``urllib``, so no
dependency besides ``hayswitch``), its settings, a plugin module registering the provider and its
:class:`~hayswitch.ContractDeclaration`, the contract tests, error-mapping tests, a stub of the
API (``tests/stub_server.py``) and a README. :func:`new_provider` then records the contract
cassettes against that stub (into ``src/hayswitch_NAME/cassettes``, package data) and replays the
tests once, so the package passes ``hayswitch check NAME`` offline before its author changes a line.

Recording runs the package's own tests in a child process (``HAYSWITCH_RECORD=1``) with the
package's ``src`` on the path and a throwaway ``.dist-info`` for its entry point, so nothing is
installed. The stub listens on 127.0.0.1 only; nothing leaves the machine.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hayswitch.errors import ConfigurationError

__all__ = ["ScaffoldError", "ScaffoldResult", "new_provider", "package_files", "validate_name"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

#: template file -> path in the generated package ({module} is replaced).
_LAYOUT: dict[str, str] = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "__init__.py.tmpl": "src/{module}/__init__.py",
    "settings.py.tmpl": "src/{module}/settings.py",
    "provider.py.tmpl": "src/{module}/provider.py",
    "plugin.py.tmpl": "src/{module}/plugin.py",
    "stub_server.py.tmpl": "tests/stub_server.py",
    "conftest.py.tmpl": "tests/conftest.py",
    "test_contract.py.tmpl": "tests/test_contract.py",
    "test_errors.py.tmpl": "tests/test_errors.py",
}


class ScaffoldError(ConfigurationError):
    """The package could not be generated (bad name, existing directory, failed recording)."""


@dataclass
class ScaffoldResult:
    """What :func:`new_provider` wrote.

    :param directory: the package directory.
    :param files: the files written (relative to ``directory``), cassettes included.
    :param cassettes: the recorded cassette files.
    :param test_output: the tail of the replayed test run (empty when recording was skipped).
    """

    directory: Path
    files: list[str] = field(default_factory=list)
    cassettes: list[str] = field(default_factory=list)
    test_output: str = ""


def validate_name(name: str) -> str:
    """Check a provider name (lowercase letters, digits, ``-``/``_`` separators).

    :raises ScaffoldError: explaining the rule.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a usable provider name: use lowercase letters and digits, starting with a "
            "letter, optionally separated by '-' or '_' (e.g. 'acme' or 'acme-cloud')."
        )
    module = "hayswitch_" + name.replace("-", "_")
    if keyword.iskeyword(module) or not module.isidentifier():
        raise ScaffoldError(f"{name!r} does not give a valid Python module name ({module}).")
    return name


def _names(name: str, port: int) -> dict[str, str]:
    words = re.split(r"[-_]", name)
    return {
        "name": name,
        "module": "hayswitch_" + name.replace("-", "_"),
        "dist": "hayswitch-" + name.replace("_", "-"),
        "Class": "".join(w[:1].upper() + w[1:] for w in words),
        "Title": " ".join(w[:1].upper() + w[1:] for w in words),
        "ENV": name.replace("-", "_").upper(),
        "port": str(port),
        "base_url": f"https://api.{name.replace('_', '-')}.example/v1",
    }


def _render(text: str, names: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: names[m.group(1)], text)


def package_files(name: str, *, port: int) -> dict[str, str]:
    """The generated package's files (relative path -> text), without cassettes."""
    validate_name(name)
    names = _names(name, port)
    templates = resources.files("hayswitch.scaffold") / "templates"
    out: dict[str, str] = {}
    for template, target in _LAYOUT.items():
        text = (templates / template).read_text(encoding="utf-8")
        out[target.format(module=names["module"])] = _render(text, names)
    out[f"src/{names['module']}/py.typed"] = ""
    out[f"src/{names['module']}/cassettes/.gitkeep"] = ""
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_metadata(root: Path, names: dict[str, str]) -> None:
    """A ``.dist-info`` so the child process discovers the entry point without installing."""
    info = root / f"{names['dist'].replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {names['dist']}\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[hayswitch]\n{names['name']} = {names['module']}.plugin\n", encoding="utf-8"
    )


def _run_tests(directory: Path, names: dict[str, str], args: list[str], *, record: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="hayswitch-scaffold-") as tmp:
        _write_metadata(Path(tmp), names)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAYSWITCH_") and k != "CI"}
        # Recording only ever talks to the generated stub on 127.0.0.1, so it is allowed under CI.
        paths = [str(directory / "src"), tmp, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env.pop(f"{names['ENV']}_API_KEY", None)
        if record:
            env["HAYSWITCH_RECORD"] = "1"
        command = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        proc = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        what = "Recording the contract cassettes against the stub" if record else "Replaying the generated tests"
        raise ScaffoldError(f"{what} failed (pytest exit {proc.returncode}) in {directory}:\n{output[-4000:]}")
    return output


def new_provider(
    name: str, directory: str | os.PathLike[str] | None = None, *, record: bool = True, force: bool = False
) -> ScaffoldResult:
    """Write the package ``hayswitch-NAME`` into ``directory`` and record its cassettes.

    :param name: the provider's registry name (``get_provider(name)``).
    :param directory: where to write it (default: ``./hayswitch-NAME``); must not exist or be
        empty, unless ``force``.
    :param record: record the contract cassettes against the generated stub and replay the tests
        once (the package then passes ``hayswitch check NAME``); False writes the files only.
    :param force: write into a non-empty directory (files of the same name are replaced).
    :raises ScaffoldError: for a bad name, a non-empty directory, or a failed recording.
    """
    validate_name(name)
    port = _free_port()
    names = _names(name, port)
    target = Path(directory) if directory is not None else Path.cwd() / names["dist"]
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} exists and is not a directory.")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ScaffoldError(f"{target} is not empty; choose another --dir or pass --force to write into it.")
    files = package_files(name, port=port)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    result = ScaffoldResult(directory=target, files=sorted(files))
    if not record:
        return result
    cassettes = target / "src" / names["module"] / "cassettes"
    for old in cassettes.glob("*.hayswitch.yaml"):
        old.unlink()
    _run_tests(target, names, ["tests/test_contract.py"], record=True)
    result.cassettes = sorted(p.name for p in cassettes.glob("*.hayswitch.yaml"))
    if not result.cassettes:
        raise ScaffoldError(f"Recording wrote no cassette into {cassettes}.")
    (cassettes / ".gitkeep").unlink(missing_ok=True)
    result.files = sorted({*result.files, *(f"src/{names['module']}/cassettes/{c}" for c in result.cassettes)})
    result.files = [f for f in result.files if not f.endswith(".gitkeep")]
    result.test_output = _run_tests(target, names, ["tests"], record=False)[-2000:]
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    return result
