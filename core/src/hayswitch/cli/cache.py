"""``hayswitch cache``: inspect and clear the persistent embedding cache."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from hayswitch.cli._common import EXIT_INPUT, fail, friendly_errors

__all__ = ["register"]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def register(app: typer.Typer) -> None:
    """Add ``hayswitch cache stats`` and ``hayswitch cache clear`` to ``app``."""
    from hayswitch.cache import DEFAULT_CACHE_PATH

    cache_app = typer.Typer(help="Inspect or clear the embedding cache (.hayswitch/cache.sqlite by default).")
    path_option = typer.Option(
        DEFAULT_CACHE_PATH, "--path", help="The cache file ('hayswitch index' keeps it next to the index file)."
    )

    @cache_app.command("stats")
    def stats_command(
        path: Path = path_option,
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a summary."),
    ) -> None:
        """Show what the cache holds: vectors per provider, model and input type, and its size.

        Strictly read-only: the file is opened with SQLite's mode=ro and never modified.
        """
        from hayswitch.cache import read_cache_file

        if not path.is_file():
            raise fail(f"no embedding cache at {path} (it is created by 'hayswitch index' or cache=...).", EXIT_INPUT)
        with friendly_errors():
            stats, spaces = read_cache_file(path)
        if as_json:
            typer.echo(json.dumps({**stats.as_dict(), "namespaces": spaces}, indent=2))
            return
        typer.echo(
            f"{stats.path}: {stats.entries} vector(s) in {stats.namespaces} namespace(s), {_human(stats.size_bytes)}"
        )
        for space in spaces:
            settings = json.dumps(space["settings"], sort_keys=True)
            typer.echo(
                f"  {space['provider']} / {space['model']} ({space['input_type']}, {space['dimension']}-d, "
                f"settings {settings}): {space['entries']}"
            )

    @cache_app.command("clear")
    def clear_command(
        path: Path = path_option,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    ) -> None:
        """Delete every cached vector (the next indexing run embeds everything again).

        A file that is not a hayswitch cache (another application's database, an empty file) is
        refused and left untouched.
        """
        from hayswitch.cache import EmbeddingCache, check_cache_file

        if not path.is_file():
            typer.echo(f"no embedding cache at {path}; nothing to clear.")
            return
        with friendly_errors():
            check_cache_file(path)  # before asking: nothing is written to a foreign file
        if not yes and not typer.confirm(f"Delete every cached vector in {path}?"):
            raise typer.Exit(1)
        with friendly_errors(), EmbeddingCache(path) as cache:
            removed = cache.clear()
        typer.echo(f"removed {removed} vector(s) from {path}")

    app.add_typer(cache_app, name="cache")
