"""``hayswitch providers``: what is installed, and what failed to load."""

from __future__ import annotations

import json
import warnings

import typer

from hayswitch.cli._common import friendly_errors
from hayswitch.registry import PluginWarning, get_registry


def register(app: typer.Typer) -> None:
    @app.command("providers")
    def providers_command(
        as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    ) -> None:
        """List discovered providers: name, distribution, version, capabilities, status."""
        with warnings.catch_warnings(), friendly_errors():
            # Load errors are shown in the table itself; no need for a warning on top.
            warnings.simplefilter("ignore", PluginWarning)
            rows = get_registry().infos()
        if as_json:
            typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="hayswitch providers")
        for column in ("name", "distribution", "version", "capabilities", "status"):
            table.add_column(column, overflow="fold")
        for r in rows:
            caps = ""
            if r.capabilities is not None:
                caps = ", ".join(r.capabilities.names())
                if r.capabilities.embeddings:
                    dim = r.capabilities.embedding_dimension
                    caps += f" (batch<={r.capabilities.max_batch_size}" + (f", dim {dim})" if dim else ")")
            status = "ok" if r.error is None else f"[red]error[/red]: {r.error}"
            table.add_row(r.name, r.distribution or "-", r.version or "-", caps or "-", status)
        if not rows:
            typer.echo("No providers installed. Install one, e.g. 'pip install hayswitch-local'.")
            return
        Console(soft_wrap=False).print(table)
