"""``hayswitch check NAME [--live]``: run the provider contract kit against an installed provider.

The command builds a :class:`hayswitch.testing.ProviderContractTests` subclass for the provider,
runs it with pytest in this process, and prints a pass/fail table; every failing check is
explained (what the rule is and what went wrong).

How a provider tells ``check`` what to run with
------------------------------------------------
A provider class overrides the classmethod :meth:`hayswitch.Provider.contract_settings`
(``contract_settings(live: bool = False)``), returning a mapping of class attributes of
:class:`~hayswitch.testing.ProviderContractTests`, e.g.::

    @classmethod
    def contract_settings(cls, live: bool = False) -> Mapping[str, Any]:
        if live:  # real requests: the real credentials come from the environment
            return {"settings": {"base_url": "https://api.example.com/v1"}}
        return {
            "settings": {"base_url": "https://api.example.com/v1", "api_key": "env:MYAPI_KEY"},
            "env": {"MYAPI_KEY": "dummy-key-for-replay"},
            "cassette_dir": Path(__file__).parent / "cassettes",  # shipped as package data
            "test_class_name": "TestMyApiContract",  # the class name the cassettes were recorded with
        }

Accepted keys are the kit's configuration attributes (``settings``, ``env``, ``cassette_dir``,
``retry``, ``prompt``, ``generation_options``, ``invalid_options``, ``sample_texts``,
``unicode_texts``, ``long_text_words``, ``non_secret_settings``) plus ``test_class_name``: cassettes
are named ``<TestClass>.<test>``, so replaying a provider's own cassettes needs the class name its
test module uses. With the default (no attributes) the provider runs with its default settings and no
cassettes (right for providers that make no HTTP requests). ``--live`` asks for
``contract_settings(live=True)`` and never uses cassettes; ``--cassette-dir`` overrides the
directory.
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

__all__ = ["CheckResult", "build_contract_class", "contract_attributes", "register", "run_contract"]

#: Class attributes of ProviderContractTests that ``contract_settings()`` may set.
CONTRACT_KEYS = frozenset(
    {
        "settings",
        "env",
        "cassette_dir",
        "retry",
        "prompt",
        "generation_options",
        "invalid_options",
        "sample_texts",
        "unicode_texts",
        "long_text_words",
        "non_secret_settings",
        "tool",
        "tool_prompt",
        "tool_result",
        "tool_options",
        "structured_schema",
        "structured_prompt",
        "model_follows_instructions",
    }
)
EXTRA_KEYS = frozenset({"test_class_name"})

#: What each check of the kit verifies, shown next to a failure. Checks the kit adds later are
#: still run and reported; they are described by their name until they are listed here.
CHECK_DESCRIPTIONS: dict[str, str] = {
    "discovered_by_name_through_registry": "the provider is found by name through an installed 'hayswitch' entry point",
    "listing_does_not_import_heavy_modules": "listing providers imports no heavy SDK (torch, llama_cpp, openai, ...)",
    "settings_serialise_without_secrets": "settings serialise to JSON with secrets as env-var references only",
    "secret_like_settings_are_secret_fields": "settings named like credentials are declared as Secret fields",
    "token_secrets_refuse_serialisation": "a literal token secret refuses to be serialised and never shows in a repr",
    "secrets_resolved_at_creation": "secrets are read when the provider is created, not when settings are parsed",
    "capabilities_match_implemented_hooks": "declared capabilities match the hooks the class implements",
    "unsupported_operations_raise_unsupported_operation": "operations the provider lacks raise UnsupportedOperation",
    "embed_documents_cardinality_and_order": "one vector per text, in input order",
    "embedding_dimension_consistent_and_declared": "every vector has the same, declared dimension",
    "embeddings_normalised_when_declared": "vectors are unit length when normalized_embeddings=True",
    "embed_empty_list_makes_no_request": "embedding an empty list returns no vectors and sends nothing",
    "embed_empty_string_raises_invalid_input": "an empty string raises InvalidInputError before any request",
    "embed_wrong_input_types_raise_invalid_input": "wrong input types raise InvalidInputError before any request",
    "embed_unicode_text": "non-ASCII text embeds",
    "embed_very_long_text": "very long text is truncated or refused with a clear error, as declared in long_text",
    "embed_batch_at_max_size": "a batch of exactly max_batch_size texts is one request",
    "embed_batch_one_above_max_size": "max_batch_size + 1 texts are split into requests within the limit",
    "embed_batch_one_below_max_size": "max_batch_size - 1 texts are one request",
    "generate_returns_text_and_finish_reason": "generate() returns non-empty text, a finish reason and a model id",
    "generate_accepts_message_list": "generate() accepts a list of role/content messages",
    "invalid_options_fail_before_any_request": "invalid generation options raise InvalidInputError before any request",
    "empty_prompt_fails_before_any_request": "an empty prompt raises InvalidInputError before any request",
    "stream_yields_chunks_with_final_finish_reason": "stream() yields chunks; only the last carries a finish reason",
    "stream_concatenation_equals_generate": "the streamed text equals generate()'s text (deterministic settings)",
    "async_embed_documents_matches_sync": "aembed_documents() gives the same vectors as embed_documents()",
    "async_embed_text_matches_sync": "aembed_text() gives the same vector as embed_text()",
    "async_generate_matches_sync": "agenerate() gives the same reply as generate()",
    "async_stream_matches_sync": "astream() gives the same chunks as stream()",
    "close_is_idempotent": "close() can be called twice",
    "tool_capabilities_are_declared": (
        "tools / structured_output are declared native, emulated or None, and refused when None"
    ),
    "invalid_tool_requests_fail_before_any_request": (
        "invalid tool schemas, duplicate names, an unknown tool_choice, a stray tool result: refused before any request"
    ),
    "tool_call_round_trip": "a required tool call is well-formed and schema-valid; its result leads to a text answer",
    "stream_tool_call": "a streamed tool call arrives as deltas that assemble into a call of the required tool",
    "structured_output_is_schema_valid": "with response_format, the reply is JSON valid against the schema",
}


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


def _class_name_for(provider: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", provider)
    return "Test" + "".join(w[:1].upper() + w[1:] for w in words if w) + "Contract"


def contract_attributes(provider: str, *, live: bool = False) -> dict[str, Any]:
    """The contract-kit attributes the provider declares through ``contract_settings(live)``.

    :raises ProviderNotFoundError: if no installed provider has that name.
    :raises ConfigurationError: if ``contract_settings`` returns something unusable.
    """
    from hayswitch.api import get_provider_class

    cls = get_provider_class(provider)
    try:
        raw = cls.contract_settings(live=live)
    except Exception as exc:  # a broken hook is reported as a configuration problem
        raise ConfigurationError(
            f"{cls.__name__}.contract_settings(live={live}) raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{cls.__name__}.contract_settings() must return a mapping, got {type(raw).__name__}.")
    unknown = sorted(set(raw) - CONTRACT_KEYS - EXTRA_KEYS)
    if unknown:
        allowed = ", ".join(sorted(CONTRACT_KEYS | EXTRA_KEYS))
        raise ConfigurationError(
            f"{cls.__name__}.contract_settings() returned unknown keys {unknown}; allowed keys: {allowed}."
        )
    return dict(raw)


def build_contract_class(
    provider: str,
    *,
    live: bool = False,
    cassette_dir: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> type:
    """A :class:`~hayswitch.testing.ProviderContractTests` subclass configured for ``provider``.

    :param live: use ``contract_settings(live=True)`` and no cassettes (real requests).
    :param cassette_dir: override the cassette directory the provider declares.
    :param settings: provider settings that override the declared contract settings.
    """
    from hayswitch.testing import ProviderContractTests

    attributes = contract_attributes(provider, live=live)
    if settings:
        attributes["settings"] = {**dict(attributes.get("settings") or {}), **dict(settings)}
    class_name = str(attributes.pop("test_class_name", "") or _class_name_for(provider))
    if live:
        attributes["cassette_dir"] = None
    elif cassette_dir is not None:
        attributes["cassette_dir"] = Path(cassette_dir)
    if attributes.get("cassette_dir") is not None:
        directory = Path(attributes["cassette_dir"])
        if not directory.is_dir():
            raise ConfigurationError(
                f"The cassette directory {directory} of provider {provider!r} does not exist. Record the cassettes "
                "first ('make record PROVIDER=...'), pass --cassette-dir, or run with --live against the real service."
            )
        attributes["cassette_dir"] = directory
    attributes["provider_name"] = provider
    attributes["__module__"] = __name__
    return type(class_name, (ProviderContractTests,), attributes)


class _Collector:
    """A pytest plugin that records each check's outcome."""

    def __init__(self) -> None:
        self.results: dict[str, CheckResult] = {}
        self.collect_errors: list[str] = []

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
        description = CHECK_DESCRIPTIONS.get(name, name.replace("_", " "))
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
    :param live: real requests (``contract_settings(live=True)``, no cassettes).
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
            declared = contract_attributes(name, live=live).get("cassette_dir")
            replay_dir = None if live else (cassette_dir or declared)
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
