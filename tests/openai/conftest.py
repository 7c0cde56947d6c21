"""Fixtures of the ``openai`` provider tests: a real OpenAI-compatible server on 127.0.0.1.

* ``llama_server`` (session): llama-cpp-python's server with SmolLM2 (chat + mean-pooled
  embeddings), on a free port, requiring the bearer token :data:`LIVE_KEY`; always stopped.
* Cassette tests replay from ``hayswitch_openai/cassettes`` (package data); with ``HAYSWITCH_RECORD=1`` the
  ``record_server`` fixture starts the same server on :data:`RECORD_PORT` (the port is part of
  the recorded URLs, so it is fixed) and the interactions are recorded from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai_support import KEY_VAR, LIVE_KEY, RECORD_PORT, server_settings

from hayswitch.testing import is_recording
from llamacpp_server import LlamaCppServer


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaCppServer]:
    """The live OpenAI-compatible server for this test session (stopped even on failure)."""
    server = LlamaCppServer(api_key=LIVE_KEY, startup_timeout=120)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_VAR, LIVE_KEY)
    return LIVE_KEY


@pytest.fixture
def live_settings(llama_server: LlamaCppServer, live_key: str) -> dict[str, Any]:
    return server_settings(llama_server.base_url)


@pytest.fixture(scope="session")
def record_server() -> Iterator[LlamaCppServer | None]:
    """When recording cassettes, the server on :data:`RECORD_PORT`; otherwise None (replay)."""
    if not is_recording():
        yield None
        return
    server = LlamaCppServer(port=RECORD_PORT, api_key=LIVE_KEY)
    try:
        server.start()
        # Recording uses the real credentials -- here the test server's key (the contract kit
        # applies its dummy env only when replaying).
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(KEY_VAR, LIVE_KEY)
            yield server
    finally:
        server.stop()
