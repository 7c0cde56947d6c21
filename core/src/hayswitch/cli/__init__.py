"""The ``hayswitch`` command line.

Core commands live in modules of this package and are added in :func:`build_app`; plugins add
their own through the ``register_commands`` hook (see :mod:`hayswitch.hookspecs`).
"""

from __future__ import annotations

import warnings

import typer

from hayswitch.cli._common import EXIT_CODES_HELP, guard_commands, set_debug
from hayswitch.errors import HayswitchError
from hayswitch.registry import (
    PluginWarning,
    _base_exception_note,
    _is_user_interrupt,
    _watch_interrupts,
    get_registry,
)

__all__ = ["build_app", "main"]


def build_app() -> typer.Typer:
    """Create the root Typer app with core and plugin commands."""
    from hayswitch.cli import ask, cache, check, finetune, index, new_provider, providers

    plugin_notes: list[str] = []
    app = typer.Typer(
        name="hayswitch",
        help="One provider protocol, many backends, the same Haystack pipeline.",
        epilog=EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback(invoke_without_command=True, epilog=EXIT_CODES_HELP)
    def root(
        ctx: typer.Context,
        version: bool = typer.Option(False, "--version", is_eager=True, help="Print the hayswitch version and exit."),
        debug: bool = typer.Option(
            False, "--debug", help="Print the traceback of an error (also HAYSWITCH_DEBUG=1).", envvar=None
        ),
    ) -> None:
        """One provider protocol, many backends, the same Haystack pipeline."""
        set_debug(debug)
        if version:
            from hayswitch import __version__

            typer.echo(f"hayswitch {__version__}")
            raise typer.Exit()
        if ctx.invoked_subcommand is None:
            typer.echo(ctx.get_help())
            raise typer.Exit()
        if ctx.invoked_subcommand != "providers":  # that command lists load errors in its table
            for note in plugin_notes:
                typer.secho(f"warning: {note}", fg=typer.colors.YELLOW, err=True)

    providers.register(app)
    index.register(app)
    cache.register(app)
    ask.register(app)
    check.register(app)
    new_provider.register(app)
    finetune.register(app)
    plugin_notes.extend(_add_plugin_commands(app))
    guard_commands(app)
    return app


def _add_plugin_commands(app: typer.Typer) -> list[str]:
    """Load the plugins and add their commands; return the plugin problems to report.

    Plugin load failures are collected instead of printed as Python warnings: ``hayswitch
    providers`` shows them in its table, every other command prints one ``warning:`` line each.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        try:
            registry = get_registry()
        except HayswitchError:
            # Strict plugin loading failed: the registry keeps raising this error, so every command
            # that needs providers reports it (cleanly, see _common.friendly_errors); the CLI itself
            # (--help, --version) still works.
            registry = None
    for warning in caught:
        if issubclass(warning.category, PluginWarning):
            notes.append(str(warning.message))
        else:  # not ours: hand it back to the normal warning machinery
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if registry is None:
        return notes
    with _watch_interrupts() as watch:
        for impl in registry.plugin_manager.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=app)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
                notes.append(f"Plugin {impl.plugin_name!r} failed to add its commands: {type(exc).__name__}: {exc}")
            except BaseException as exc:  # SystemExit, KeyboardInterrupt raised by the plugin itself
                if _is_user_interrupt(exc, watch):
                    raise
                notes.append(f"Plugin {impl.plugin_name!r} failed to add its commands: {_base_exception_note(exc)}")
    return notes


def main() -> None:
    """Entry point of the ``hayswitch`` console script (exit codes: see ``hayswitch --help``)."""
    from hayswitch.cli import _common, _deferred_imports

    _deferred_imports.install()  # Haystack imports torch eagerly; only a provider that uses it should pay for it
    _common._State.standalone = True
    build_app()()
