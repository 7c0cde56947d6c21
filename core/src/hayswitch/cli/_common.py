"""Helpers shared by CLI commands: turning errors into clean messages and documented exit codes.

Exit codes of every ``hayswitch`` command (also listed by ``hayswitch --help`` and in
docs/reliability.md):

====  =====================================================================================
0     success
1     nothing done: a confirmation was declined, or a check found failures
2     configuration error (unknown provider, invalid settings, missing secret, plugin failure,
      unusable cache or index file) -- also click's usage errors (unknown option, bad value)
3     invalid input (empty question, missing files, options that cannot be combined)
4     the provider failed (unreachable server, HTTP errors, malformed responses, after retries)
5     unexpected error: a bug in a provider, a plugin or hayswitch; one line names the
      provider and the exception (the traceback with ``--debug`` or ``HAYSWITCH_DEBUG=1``)
130   interrupted (Ctrl-C)
====  =====================================================================================
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

import typer

from hayswitch.errors import ConfigurationError, HayswitchError, InvalidInputError

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INPUT = 3
EXIT_PROVIDER = 4
EXIT_UNEXPECTED = 5
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 declined or check failed; 2 configuration (or usage) error; "
    "3 invalid input; 4 provider failed; 5 unexpected error in a provider, plugin or hayswitch "
    "(one line; traceback with --debug or HAYSWITCH_DEBUG=1); 130 interrupted."
)

_TRUE = {"1", "true", "yes", "on"}


class _State:
    debug = False
    standalone = False  # set by the console script (never under a test runner)


def set_debug(value: bool) -> None:
    """Switch traceback printing on (``--debug``)."""
    _State.debug = bool(value)


def debug_enabled() -> bool:
    """``--debug`` was given or ``HAYSWITCH_DEBUG`` is true."""
    return _State.debug or os.environ.get("HAYSWITCH_DEBUG", "").strip().lower() in _TRUE


@contextmanager
def read_only_work() -> Iterator[None]:
    """The work of a command that writes nothing (``ask``): in the console script, the garbage
    collector stays off while it runs, and what it leaves behind is never walked again.

    Haystack, Chroma, pydantic and the rest create about a million long-lived objects in a
    ``hayswitch ask`` process, and the collector walks them over and over: about 0.2 s of
    collections while the command runs, and 0.3-0.5 s more in the interpreter's final
    collections at exit. One question creates little cyclic garbage (measured: +3 MB peak), so
    the collector is off during the work and, once it succeeded, :func:`gc.freeze` moves
    everything out of its reach. Everything else at exit is unchanged (atexit handlers, flushing,
    thread joins, the exit code), and objects outside reference cycles are still freed when the
    modules are cleared. If the work fails, the collector is switched back on as it was.

    Only for commands that write nothing: an embedded Chroma store persists its vector index when
    its objects are collected at exit, so a command that wrote to a store must let that happen
    (``index`` does not use this). Outside the console script (a test runner, a program calling
    the commands) the collector is left alone.
    """
    if not _State.standalone or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    except BaseException:
        gc.enable()
        raise
    gc.freeze()


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    """Print ``message`` to stderr and return an Exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _culprit(exc: BaseException) -> tuple[str, str] | None:
    """The provider (name, module) in whose code ``exc`` was raised: the innermost traceback
    frame that belongs to a registered provider's package."""
    try:
        from hayswitch.registry import get_registry

        registry = get_registry()
        owners: list[tuple[str, str]] = []
        for info in registry.infos():
            cls = info.provider_class
            if cls is None:
                continue
            module = cls.__module__
            # A built-in module of core is matched exactly; a plugin by its top-level package.
            prefix = module if module.startswith("hayswitch.") else module.split(".")[0]
            owners.append((prefix, info.name))
    except Exception:  # noqa: BLE001 - best effort only
        return None
    found: tuple[str, str] | None = None
    for linked in _chain(exc):  # outermost first, so the innermost match wins
        tb: TracebackType | None = linked.__traceback__
        while tb is not None:
            module = str(tb.tb_frame.f_globals.get("__name__", ""))
            for prefix, name in owners:
                if module == prefix or module.startswith(prefix + "."):
                    found = (name, module)
            tb = tb.tb_next
    return found


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first (wrappers such as Haystack's PipelineRuntimeError
    hold the provider's exception as ``__cause__``)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 10:
        out.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return out


def describe_unexpected(exc: BaseException) -> str:
    """One line for a non-hayswitch exception: which provider raised what, and what to do."""
    root = _chain(exc)[-1]
    what = f"{type(root).__name__}: {_one_line(str(root))}".rstrip(": ")
    culprit = _culprit(exc)
    hint = "Run again with --debug (or HAYSWITCH_DEBUG=1) for the traceback"
    if culprit is not None:
        name, module = culprit
        return (
            f"provider {name!r} failed with an unexpected {what} (raised in {module}). This is a bug in the "
            f"provider, not in your input: {hint}, and report it to the provider's authors."
        )
    return f"unexpected {what}. This is a bug: {hint}, and report it."


def _interrupted() -> None:
    typer.echo("interrupted", err=True)
    if _State.standalone:
        sys.stdout.flush()
        sys.stderr.flush()
        workers = [
            t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive() and not t.daemon
        ]
        if workers:
            # Queued work was cancelled; requests already in flight in worker threads would keep
            # the interpreter alive until they finish or time out. Stop now.
            os._exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_INTERRUPTED)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn errors into a one-line message and a documented exit code (no traceback, unless
    ``--debug`` / ``HAYSWITCH_DEBUG=1``)."""
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            raise
        if debug_enabled():
            traceback.print_exc(file=sys.stderr)
        # A hayswitch error, possibly wrapped (Haystack's PipelineRuntimeError keeps it as __cause__).
        known = next((e for e in _chain(exc) if isinstance(e, HayswitchError)), None)
        if known is None:
            raise fail(describe_unexpected(exc), EXIT_UNEXPECTED) from None
        raise fail(str(known), exit_code_for(known)) from None


def exit_code_for(exc: HayswitchError) -> int:
    """The documented exit code of a hayswitch error."""
    if isinstance(exc, ConfigurationError):
        return EXIT_CONFIG
    if isinstance(exc, InvalidInputError):
        return EXIT_INPUT
    return EXIT_PROVIDER


def run_friendly(fn: Callable[[], T]) -> T:
    with friendly_errors():
        return fn()


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(fn, "__hayswitch_guarded__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with friendly_errors():
            return fn(*args, **kwargs)

    wrapper.__hayswitch_guarded__ = True  # type: ignore[attr-defined]
    return wrapper


def guard_commands(app: typer.Typer) -> None:
    """Wrap every command of ``app`` (and of its sub-apps, plugin commands included) in
    :func:`friendly_errors`, so no command ends in a raw traceback."""
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = _guarded(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_commands(group.typer_instance)


def check_store_location(path: os.PathLike[str] | str) -> None:
    """Refuse an index location that cannot be written, naming the index (not the embedding cache
    that lives next to it), before any work starts.

    :raises InvalidInputError: a parent of ``path`` is a file, or the nearest existing folder is
        not writable.
    """
    from pathlib import Path

    target = Path(path).expanduser()
    probe = target if target.is_dir() else target.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise InvalidInputError(
            f"Cannot write the index {target}: {probe} is a file, not a folder. Choose another --store path."
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InvalidInputError(
            f"Cannot write the index {target}: the folder {probe} is not writable. Choose another --store path or "
            "fix the folder's permissions."
        )
