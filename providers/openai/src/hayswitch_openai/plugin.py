"""Entry point of the ``openai`` provider (``[project.entry-points.hayswitch] openai = ...``).

Importing this module does not import the ``openai`` SDK; the provider imports it when an
instance is created. It also declares how the contract kit and ``hayswitch check openai`` test
the provider: the cassettes shipped in this package, recorded against the llama.cpp
OpenAI-compatible test server (``tools/llamacpp-server``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hayswitch import ContractDeclaration, Provider, hookimpl
from hayswitch_openai.provider import OpenAIProvider

__all__ = ["CASSETTES", "RECORD_BASE_URL", "TEST_KEY_VAR", "register_contracts", "register_providers"]

CASSETTES = Path(__file__).parent / "cassettes"
"""The contract cassettes (package data)."""
RECORD_BASE_URL = "http://127.0.0.1:18431/v1"
"""Where the test server listens while recording (the port is part of the recorded URLs)."""
TEST_KEY_VAR = "HAYSWITCH_TEST_OPENAI_KEY"
_TEST_MODEL = "smollm2"  # the model alias of the recording server


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register :class:`~hayswitch_openai.provider.OpenAIProvider` as ``openai``."""
    register(OpenAIProvider)


@hookimpl
def register_contracts(register: Callable[[ContractDeclaration], None]) -> None:
    """Replay: the shipped cassettes with the test server's settings and a dummy key.
    ``--live``: the configured server (``HAYSWITCH_OPENAI__*`` / ``OPENAI_*`` or ``-s KEY=VALUE``)."""
    register(
        ContractDeclaration(
            provider="openai",
            test_class_name="TestOpenAIContract",
            cassette_dir=CASSETTES,
            settings={
                "base_url": RECORD_BASE_URL,
                "api_key": f"env:{TEST_KEY_VAR}",
                "chat_model": _TEST_MODEL,
                "embedding_model": _TEST_MODEL,
                "timeout": 30.0,
                "long_text": "truncate",  # llama-cpp-python truncates over-long embedding inputs
                "response_format_style": "json_object_schema",  # llama.cpp's structured-output request form
            },
            env={TEST_KEY_VAR: "hayswitch-live-test-key"},
            heavy_modules=("openai",),
            scrub_headers=(
                "authorization",
                "api-key",
                "x-api-key",
                "openai-organization",
                "openai-project",
                "cookie",
                "set-cookie",
            ),
            scrub_query_params=("api-key", "api_key", "key"),
            kit={"fault_url_setting": "base_url", "fault_url_suffix": "/v1"},
        )
    )
