"""Constants and helpers of the peer tests (imported by their conftest and the tests)."""

from __future__ import annotations

from typing import Any

from gradient_emulator import EmulatorServer

ACCESS_TOKEN = "access_token"
"""The values gradient-haystack 0.4.0's tests put in the environment (no server accepts them)."""
WORKSPACE_ID = "workspace_id"


def served(emulator: EmulatorServer, operation: str | None = None) -> list[dict[str, Any]]:
    """The requests the emulator answered (optionally of one operation), oldest first, each with
    ``operation``, ``status``, ``inputs`` and ``path``."""
    recent: list[dict[str, Any]] = emulator.stats()["recent"]
    return [r for r in recent if operation is None or r["operation"] == operation]
