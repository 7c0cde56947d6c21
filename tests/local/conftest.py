"""Fixtures for the local provider and the index/ask CLI tests.

Real models are loaded once per test session: the local provider keeps them in a process-wide
cache, and the session-scoped ``local_provider`` fixture warms it up. Every test here runs with
outbound network blocked (the suite-wide guard of tests/conftest.py): anything but a loopback
connection fails the test.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from hayswitch import Provider

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class NetworkBlockedError(OSError):
    """Raised for any non-loopback connection attempt in these tests."""


def _guard(original: Any) -> Any:
    def connect(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
        if self.family == getattr(socket, "AF_UNIX", None):
            return original(self, address, *args, **kwargs)
        host = address[0] if isinstance(address, tuple) else address
        if host not in _LOOPBACK:
            raise NetworkBlockedError(f"network access blocked in tests: {address!r}")
        return original(self, address, *args, **kwargs)

    return connect


@pytest.fixture
def no_network(_network_guard: None) -> None:
    """Every test runs with the network blocked (the suite-wide guard of tests/conftest.py, which
    also fails a test that tries); this name makes it explicit where it matters."""


@pytest.fixture(scope="session")
def local_provider() -> Iterator[Provider]:
    """One ``local`` provider for the session, with both models loaded."""
    from hayswitch_local import LocalProvider

    provider = LocalProvider()
    with pytest.MonkeyPatch.context() as mp:  # loading happens with the network blocked, too
        mp.setattr(socket.socket, "connect", _guard(socket.socket.connect))
        provider.embedder()
        provider.chat_llm()
    yield provider
    provider.close()
