"""Constants and helpers shared by the ``openai`` provider tests (imported by conftest and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hayswitch_openai.llamacpp_server import DEFAULT_ALIAS

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "openai"
LIVE_KEY = "hayswitch-live-test-key"
"""Bearer token the test server requires (not a real credential)."""
KEY_VAR = "HAYSWITCH_TEST_OPENAI_KEY"
RECORD_PORT = 18431
RECORD_BASE_URL = f"http://127.0.0.1:{RECORD_PORT}/v1"


def server_settings(base_url: str, **extra: Any) -> dict[str, Any]:
    """Provider settings for the test server (the key comes from :data:`KEY_VAR`)."""
    return {
        "base_url": base_url,
        "api_key": f"env:{KEY_VAR}",
        "chat_model": DEFAULT_ALIAS,
        "embedding_model": DEFAULT_ALIAS,
        "timeout": 30.0,
        "long_text": "truncate",  # llama-cpp-python truncates over-long embedding inputs
        "response_format_style": "json_object_schema",  # the form llama-cpp-python's server enforces
        **extra,
    }
