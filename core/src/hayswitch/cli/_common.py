"""Helpers shared by CLI commands: turning hayswitch errors into clean messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer

from hayswitch.errors import ConfigurationError, HayswitchError, InvalidInputError

T = TypeVar("T")

EXIT_CONFIG = 2
EXIT_INPUT = 3
EXIT_PROVIDER = 4


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` to stderr and return an Exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn hayswitch errors into a one-line message and a non-zero exit (no traceback)."""
    try:
        yield
    except typer.Exit:
        raise
    except ConfigurationError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    except InvalidInputError as exc:
        raise fail(str(exc), EXIT_INPUT) from None
    except HayswitchError as exc:
        raise fail(str(exc), EXIT_PROVIDER) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


def run_friendly(fn: Callable[[], T]) -> T:
    with friendly_errors():
        return fn()
