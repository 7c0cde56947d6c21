"""Constants and helpers shared by the ``gradient`` tests (imported by conftest and the tests).

Cassettes live in ``hayswitch_gradient/cassettes`` (package data) and are recorded with the real
``gradientai`` SDK against
the emulator (``tools/gradient-emulator``) on :data:`RECORD_PORT` -- or against a live
Gradient-compatible endpoint when ``GRADIENT_API_URL`` (plus real ``GRADIENT_ACCESS_TOKEN`` /
``GRADIENT_WORKSPACE_ID``) is set while recording. The host the cassettes were recorded against is
kept in ``recorded_host.json`` there so that replays send the same URLs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hayswitch.testing import is_recording
from hayswitch_gradient.plugin import BASE_SLUG, CASSETTES, FAKE_TOKEN, FAKE_WORKSPACE, HOST_FILE

__all__ = ["BASE_SLUG", "CASSETTES", "FAKE_TOKEN", "FAKE_WORKSPACE", "HOST_FILE"]
RECORD_PORT = 38211
EMULATOR_RECORD_URL = f"http://127.0.0.1:{RECORD_PORT}/api"
LIVE_API_URL = os.environ.get("GRADIENT_API_URL") or None
"""A live endpoint to record against (read once, before any test changes the environment)."""


def live_recording() -> bool:
    """Recording against a live endpoint (GRADIENT_API_URL set) rather than the emulator."""
    return is_recording() and LIVE_API_URL is not None


def recorded_host() -> str:
    """The API URL the cassettes hold (and that replays must request)."""
    if is_recording():
        return LIVE_API_URL or EMULATOR_RECORD_URL
    if HOST_FILE.is_file():
        return str(json.loads(HOST_FILE.read_text(encoding="utf-8"))["host"])
    return EMULATOR_RECORD_URL


def write_recorded_host(host: str) -> None:
    CASSETTES.mkdir(parents=True, exist_ok=True)
    source = "live endpoint" if live_recording() else "gradient-emulator (tools/gradient-emulator)"
    HOST_FILE.write_text(json.dumps({"host": host, "recorded_against": source}, indent=2) + "\n", encoding="utf-8")


def credential_env() -> dict[str, str]:
    """Environment for cassette tests: fake credentials, except when recording a live endpoint
    (then the real ones from the environment are used and scrubbed from the cassettes)."""
    if live_recording():
        return {}
    return {"GRADIENT_ACCESS_TOKEN": FAKE_TOKEN, "GRADIENT_WORKSPACE_ID": FAKE_WORKSPACE}


def cassette_settings(**extra: Any) -> dict[str, Any]:
    """Provider settings for cassette tests (host = the recorded host)."""
    return {"host": recorded_host(), "base_model_slug": BASE_SLUG, "timeout": 30.0, **extra}
