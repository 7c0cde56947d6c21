"""``hayswitch check NAME [--live]``: run the provider contract kit against an installed provider.

The command builds the provider's contract test class (:func:`hayswitch.testing.contract_test_class`),
runs it with pytest in this process, and prints a pass/fail table; every failing check is
explained (what the rule is -- the first line of the kit test's docstring -- and what went wrong).

How a provider tells ``check`` what to run with
------------------------------------------------
Its plugin module declares it next to the provider, through the ``register_contracts`` hook::

    from pathlib import Path

    from hayswitch import ContractDeclaration, hookimpl


    @hookimpl
    def register_contracts(register):
        register(
            ContractDeclaration(
                provider="myapi",
                test_class_name="TestMyApiContract",  # the class the cassettes were recorded with
                cassette_dir=Path(__file__).parent / "cassettes",  # package data: ships in the wheel
                settings={"base_url": "https://api.example.com/v1", "api_key": "env:MYAPI_KEY"},
                env={"MYAPI_KEY": "dummy-key-for-replay"},  # replay only; recording uses the real key
                live_settings={"base_url": "https://api.example.com/v1"},
            )
        )

The provider's own test module builds its class from the same declaration
(``TestMyApiContract = contract_test_class("myapi")``), so the tests and ``hayswitch check`` never
disagree. Without a declaration the older ``Provider.contract_settings(live)`` classmethod is
used, and without either the provider runs with its default settings and no cassettes (right for
providers that make no HTTP requests). ``--live`` uses the declared ``live_settings`` and never
cassettes; ``--cassette-dir`` overrides the directory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hayswitch.cli._common import EXIT_CONFIG, friendly_errors
from hayswitch.errors import ConfigurationError

if TYPE_CHECKING:
    import pytest

__all__ = ["CheckResult", "build_contract_class", "declared_cassette_dir", "register", "run_contract"]


@dataclass
class CheckResult:
    """The outcome of one contract check.

    :param check: the check's name (the kit's test name without ``test_``).
    :param outcome: ``passed``, ``failed``, ``skipped`` or ``error`` (failed in setup/teardown).
    :param message: for failures the assertion or exception message; for skips the reason.
    :param description: what the check verifies.
    :param details: the full failure report (traceback), for ``--verbose``.
    """

    check: str
    outcome: str
    message: str = ""
    description: str = ""
    details: str = ""


def declared_cassette_dir(provider: str) -> Path | None:
    """The cassette directory the provider's contract declaration names (None: no cassettes)."""
    from hayswitch.api import declared_contract, get_provider_class
    from hayswitch.contracts import legacy_contract

    declaration = declared_contract(provider) or legacy_contract(get_provider_class(provider))
    return None if declaration.cassette_dir is None else Path(declaration.cassette_dir)


def build_contract_class(
    provider: str,
    *,
    live: bool = False,
    cassette_dir: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> type:
    """The provider's :class:`~hayswitch.testing.ProviderContractTests` subclass (see
    :func:`hayswitch.testing.contract_test_class`)."""
    from hayswitch.testing import contract_test_class

    return contract_test_class(provider, live=live, cassette_dir=cassette_dir, settings=settings)


class _Collector:
    """A pytest plugin that records each check's outcome."""

    def __init__(self) -> None:
        from hayswitch.testing import check_descriptions

        self.results: dict[str, CheckResult] = {}
        self.collect_errors: list[str] = []
        self.descriptions = check_descriptions()

    @staticmethod
    def _check_name(nodeid: str) -> str:
        name = nodeid.rsplit("::", 1)[-1]
        return name.removeprefix("test_")

    @staticmethod
    def _message(report: pytest.TestReport) -> str:
        longrepr = report.longrepr
        if isinstance(longrepr, tuple):  # skips: (path, line, reason)
            return str(longrepr[2]).removeprefix("Skipped: ")
        crash = getattr(longrepr, "reprcrash", None)
        if crash is not None:
            return str(crash.message)
        return str(longrepr).strip().splitlines()[-1] if longrepr else ""

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = self._check_name(report.nodeid)
        description = self.descriptions.get(name.split("[", 1)[0]) or name.replace("_", " ")
        current = self.results.get(name)
        if report.when == "call" or current is None:
            if report.passed and report.when != "call":
                return  # setup passed: wait for the call
            outcome = report.outcome if report.when == "call" else ("skipped" if report.skipped else "error")
            if report.failed and report.when == "call":
                outcome = "failed"
            self.results[name] = CheckResult(
                check=name,
                outcome=outcome,
                message="" if report.passed else self._message(report),
                description=description,
                details="" if report.passed or report.skipped else report.longreprtext,
            )
        elif report.when == "teardown" and report.failed and current.outcome == "passed":
            self.results[name] = CheckResult(
                check=name,
                outcome="error",
                message=self._message(report),
                description=description,
                details=report.longreprtext,
            )


def run_contract(
    provider: str,
    *,
    live: bool = False,
    cassette_dir: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    select: str | None = None,
) -> tuple[list[CheckResult], str]:
    """Run the contract kit against an installed provider, in this process.

    :param provider: the registry name.
    :param live: real requests (the declared ``live_settings``, no cassettes).
    :param cassette_dir: override the provider's cassette directory.
    :param settings: provider settings overriding the declared contract settings (JSON values).
    :param select: a pytest ``-k`` expression to run only some checks.
    :returns: one :class:`CheckResult` per check, and pytest's own output.
    :raises ProviderNotFoundError: if the provider is not installed.
    :raises ConfigurationError: for unusable contract settings or a missing cassette directory.
    """
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is a dependency of hayswitch[testing]
        raise ConfigurationError("'hayswitch check' needs the contract kit: pip install 'hayswitch[testing]'") from None

    # Validate everything (provider, contract settings, cassettes) before starting pytest, so
    # configuration problems are one clear message rather than a collection error.
    overrides = dict(settings or {})
    try:
        json.dumps(overrides)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"Settings for 'hayswitch check' must be JSON values: {exc}") from None
    contract_class = build_contract_class(provider, live=live, cassette_dir=cassette_dir, settings=overrides)
    collector = _Collector()
    output = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="hayswitch-check-") as tmp:
        root = Path(tmp)
        # A config of our own, so the caller's pytest configuration does not apply (the asyncio
        # option silences pytest-asyncio's warning; unknown-option warnings are ignored below).
        ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        (root / "pytest.ini").write_text(ini, encoding="utf-8")
        module = root / f"test_hayswitch_check_{re.sub(r'[^0-9a-z_]', '_', provider)}.py"
        module.write_text(
            textwrap.dedent(
                f"""\
                from hayswitch.cli.check import build_contract_class

                import json

                {contract_class.__name__} = build_contract_class(
                    {provider!r},
                    live={live!r},
                    cassette_dir={str(cassette_dir) if cassette_dir else None!r},
                    settings=json.loads({json.dumps(overrides)!r}),
                )
                """
            ),
            encoding="utf-8",
        )
        args = [
            str(module),
            "-c",
            str(root / "pytest.ini"),
            "--rootdir",
            str(root),
            "-p",
            "no:cacheprovider",
            "-q",
            "--tb=short",
            "-W",
            "ignore::pytest.PytestConfigWarning",
        ]
        if select:
            args += ["-k", select]
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = pytest.main(args, plugins=[collector])
    if collector.collect_errors:
        raise ConfigurationError(
            f"The contract tests for {provider!r} could not be collected:\n" + "\n".join(collector.collect_errors)
        )
    if code == pytest.ExitCode.USAGE_ERROR:
        raise ConfigurationError(f"pytest refused the run:\n{output.getvalue()[-2000:]}")
    return list(collector.results.values()), output.getvalue()


_STYLE = {"passed": "green", "failed": "red", "error": "red", "skipped": "yellow"}
_SYMBOL = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_command(
        name: str = typer.Argument(..., help="The provider's registry name (see 'hayswitch providers')."),
        live: bool = typer.Option(
            False, "--live", help="Send real requests (the provider's live contract settings), no cassettes."
        ),
        cassette_dir: Path | None = typer.Option(
            None, "--cassette-dir", help="Replay cassettes from this directory instead of the provider's own."
        ),
        setting: list[str] = typer.Option(
            [],
            "--setting",
            "-s",
            help="Override a provider setting, KEY=VALUE (VALUE parsed as JSON when it is JSON). Repeatable.",
        ),
        select: str | None = typer.Option(None, "-k", help="Run only checks matching this pytest -k expression."),
        as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the full report of each failure."),
    ) -> None:
        """Run the provider contract kit against an installed provider and print a pass/fail table.

        Exit status: 0 when every check passed or was not applicable, 1 when a check failed,
        2 for a configuration problem (unknown provider, missing cassettes).
        """
        with friendly_errors():
            overrides = _parse_settings(setting)
            replay_dir = None if live else (cassette_dir or declared_cassette_dir(name))
            results, output = run_contract(
                name, live=live, cassette_dir=cassette_dir, settings=overrides, select=select
            )
        if not results:
            typer.secho(f"error: no contract check ran for {name!r}.\n{output[-2000:]}", fg="red", err=True)
            raise typer.Exit(EXIT_CONFIG)
        failed = [r for r in results if r.outcome in ("failed", "error")]
        if as_json:
            typer.echo(
                json.dumps(
                    {"provider": name, "live": live, "ok": not failed, "checks": [asdict(r) for r in results]},
                    indent=2,
                )
            )
            raise typer.Exit(1 if failed else 0)
        mode = "live requests" if live else (f"replaying cassettes from {replay_dir}" if replay_dir else "no cassettes")
        _print_table(name, mode, results, failed, verbose)
        raise typer.Exit(1 if failed else 0)


def _parse_settings(items: list[str]) -> dict[str, Any]:
    """``["dimension=32", "host=http://x"]`` -> ``{"dimension": 32, "host": "http://x"}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"--setting expects KEY=VALUE, got {item!r}.")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def _print_table(name: str, mode: str, results: list[CheckResult], failed: list[CheckResult], verbose: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=False)
    table = Table(title=f"hayswitch check {name} ({mode})")
    table.add_column("check", no_wrap=True)
    table.add_column("result")
    table.add_column("notes", overflow="fold")
    for r in results:
        style = _STYLE.get(r.outcome, "white")
        note = r.message if r.outcome != "passed" else ""
        table.add_row(r.check, f"[{style}]{_SYMBOL.get(r.outcome, r.outcome)}[/{style}]", escape(note))
    console.print(table)
    counts = {k: sum(r.outcome == k for r in results) for k in ("passed", "failed", "error", "skipped")}
    summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    for r in failed:
        console.print(f"\n[red]{_SYMBOL[r.outcome]}[/red] [bold]{r.check}[/bold]: {escape(r.description)}")
        console.print(f"  {escape(r.message)}", soft_wrap=True)
        if verbose and r.details:
            console.print(escape(r.details), soft_wrap=True)
    if failed:
        console.print(f"\n[red]{name}: {len(failed)} check(s) failed[/red] ({summary}). Re-run with -v for details.")
    else:
        console.print(f"\n[green]{name} passes the hayswitch provider contract[/green] ({summary}).")
