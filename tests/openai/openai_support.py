"""Constants and helpers shared by the ``openai`` provider tests (imported by conftest and tests)."""

from __future__ import annotations

from typing import Any

from hayswitch_openai.plugin import TEST_KEY_VAR
from llamacpp_server import DEFAULT_ALIAS

LIVE_KEY = "hayswitch-live-test-key"
"""Bearer token the test server requires (not a real credential)."""
KEY_VAR = TEST_KEY_VAR
RECORD_PORT = 18431


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
