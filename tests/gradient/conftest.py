"""Fixtures of the ``gradient`` tests.

* ``emulator`` (session): the Gradient API emulator on a free loopback port, in a thread, with the
  fake credentials of :mod:`gradient_support`; reset before each test that uses ``live_emulator``.
* ``record_emulator`` (session, autouse): when recording cassettes (``HAYSWITCH_RECORD=1``) and no
  live endpoint is given, the emulator on :data:`gradient_support.RECORD_PORT` (the port is part of
  the recorded URLs); otherwise nothing (replays need no server).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gradient_emulator import EmulatorServer, build_config
from gradient_emulator.fixtures import emulator_fixture
from gradient_support import (
    FAKE_TOKEN,
    FAKE_WORKSPACE,
    RECORD_PORT,
    credential_env,
    live_recording,
    recorded_host,
    write_recorded_host,
)

from hayswitch.testing import is_recording

emulator = emulator_fixture(access_tokens=[FAKE_TOKEN], workspace_ids=[FAKE_WORKSPACE])
"""A live emulator for this session (thread mode, free port; always shut down)."""


@pytest.fixture
def live_emulator(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The session emulator, reset (no adapters, faults or stats), with the fake credentials and
    ``GRADIENT_API_URL`` pointing at it."""
    emulator.reset()
    emulator.configure(latency={"fixed": 0.0, "per_input": 0.0}, max_concurrency=None, concurrency_mode="queue")
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", FAKE_WORKSPACE)
    monkeypatch.setenv("GRADIENT_API_URL", emulator.api_url)
    return emulator


@pytest.fixture(scope="session")
def record_emulator() -> Iterator[EmulatorServer | None]:
    """When recording against the emulator: the emulator on RECORD_PORT; otherwise None."""
    if not is_recording():
        yield None
        return
    write_recorded_host(recorded_host())
    if live_recording():
        yield None
        return
    server = EmulatorServer(build_config(access_tokens=[FAKE_TOKEN], workspace_ids=[FAKE_WORKSPACE]), port=RECORD_PORT)
    server.start()
    try:
        # Recording uses the real credentials, which for the emulator are the fake ones (the
        # contract kit applies its dummy env only when replaying).
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GRADIENT_ACCESS_TOKEN", FAKE_TOKEN)
            patch.setenv("GRADIENT_WORKSPACE_ID", FAKE_WORKSPACE)
            yield server
    finally:
        server.stop()


@pytest.fixture
def cassette_env(monkeypatch: pytest.MonkeyPatch, record_emulator: EmulatorServer | None) -> dict[str, str]:
    """Credentials for cassette tests (fake unless recording a live endpoint); GRADIENT_API_URL unset
    so only the settings' host counts."""
    env = credential_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if not live_recording():
        monkeypatch.delenv("GRADIENT_API_URL", raising=False)
    if record_emulator is not None:
        record_emulator.reset()
    return env
