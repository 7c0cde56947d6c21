"""``hayswitch new-provider NAME [--dir DIR]``: scaffold a provider package that passes the contract."""

from __future__ import annotations

from pathlib import Path

import typer

from hayswitch.cli._common import friendly_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("new-provider")
    def new_provider_command(
        name: str = typer.Argument(..., help="The provider's registry name, e.g. 'acme' (package hayswitch-acme)."),
        directory: Path | None = typer.Option(
            None, "--dir", help="Where to write the package (default: ./hayswitch-NAME). Must be empty."
        ),
        record: bool = typer.Option(
            True,
            "--record/--no-record",
            help="Record the contract cassettes against the generated stub API and run the tests once.",
        ),
        force: bool = typer.Option(False, "--force", help="Write into a non-empty directory."),
    ) -> None:
        """Write a complete provider package: pyproject with the entry point, settings, a provider
        over HTTP, the plugin with its contract declaration, contract and error tests, a stub of
        the API with cassettes recorded against it, and a README.

        Install it (pip install -e 'DIR[test]') and 'hayswitch check NAME' passes offline.
        """
        from hayswitch.scaffold import new_provider

        with friendly_errors():
            if record:
                typer.echo(f"Writing hayswitch-{name} and recording its contract cassettes against the stub API ...")
            result = new_provider(name, directory, record=record, force=force)
        typer.echo(f"Wrote {len(result.files)} files to {result.directory}")
        for relative in result.files:
            typer.echo(f"  {relative}")
        if result.cassettes:
            lines = [line for line in result.test_output.splitlines() if " passed" in line] or [""]
            summary = lines[-1].strip()
            typer.echo(f"Recorded {len(result.cassettes)} cassettes; the generated tests, replayed: {summary}")
        typer.echo(
            "\nNext:\n"
            f"  pip install -e '{result.directory}[test]'\n"
            f"  hayswitch check {name}\n"
            f"Then make it talk to the real API: see {result.directory / 'README.md'}."
        )
