"""Ready-made pytest fixtures for suites that need a Gradient emulator (imports pytest lazily).

In a ``conftest.py``::

    from gradient_emulator.fixtures import emulator_fixture

    gradient_emulator = emulator_fixture()                                  # session scope
    slow_gradient = emulator_fixture(scope="function", latency_fixed=0.05, max_concurrency=2)

Each fixture yields an :class:`~gradient_emulator.EmulatorServer` on a free loopback port and always
shuts it down. With a session-scoped emulator, call ``emu.reset()`` in tests that need a clean
state (no adapters, faults or statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

from gradient_emulator.server import EmulatorProcess, EmulatorServer, run_emulator

__all__ = ["emulator_fixture"]


def emulator_fixture(
    *,
    scope: Literal["session", "package", "module", "class", "function"] = "session",
    mode: Literal["thread", "process"] = "thread",
    **config: Any,
) -> Callable[..., Any]:
    """A pytest fixture running the emulator with ``config`` (:class:`EmulatorConfig` fields plus
    ``latency_fixed`` / ``latency_per_input``)."""
    import pytest

    @pytest.fixture(scope=scope)
    def _emulator() -> Iterator[EmulatorServer | EmulatorProcess]:
        with run_emulator(mode=mode, **config) as emu:
            yield emu

    return _emulator
