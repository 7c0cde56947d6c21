"""Fixtures of the peer tests: gradient-haystack 0.4.0's unit tests, rewritten against the drop-ins.

Where 0.4.0's tests replaced a private SDK object with a mock, these run the drop-in against the
Gradient emulator (``live_emulator`` from ``tests/gradient/conftest.py``: a loopback server started
by the test session) and check the same behaviour at the HTTP boundary.
"""

from __future__ import annotations

import pytest
from gradient_emulator import EmulatorServer
from peer_support import ACCESS_TOKEN, WORKSPACE_ID

import hayswitch.retry


@pytest.fixture
def tokens_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """0.4.0's fixture: both variables set (to values no server accepts)."""
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", ACCESS_TOKEN)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", WORKSPACE_ID)


@pytest.fixture
def emulator(live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The Gradient emulator, reset, with its credentials and URL in the environment; retry waits
    are skipped (they would only slow the tests down)."""
    monkeypatch.setattr(hayswitch.retry, "_sleep", lambda seconds: None)
    live_emulator.reset_stats()
    return live_emulator
