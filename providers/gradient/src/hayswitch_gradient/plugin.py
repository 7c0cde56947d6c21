"""The ``hayswitch`` entry point of this distribution: registers the ``gradient`` provider.

Listing providers imports this module, so it stays light: neither ``gradientai`` nor Haystack
is imported here (the provider imports the SDK when it is created). It also declares how the
contract kit and ``hayswitch check gradient`` test the provider: the cassettes shipped in this
package, recorded with the real SDK against the emulator (``tools/gradient-emulator``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hayswitch import ContractDeclaration, hookimpl

__all__ = ["CASSETTES", "HOST_FILE", "register_contracts", "register_providers"]

CASSETTES = Path(__file__).parent / "cassettes"
"""The contract (and migration) cassettes, shipped as package data."""
HOST_FILE = CASSETTES / "recorded_host.json"
"""The API URL the cassettes were recorded against (replays must request the same URLs)."""
FAKE_TOKEN = "fake-gradient-token-for-tests"
FAKE_WORKSPACE = "fake-workspace-for-tests_workspace"
BASE_SLUG = "nous-hermes2"


@hookimpl
def register_providers(register: Callable[[type[Any]], None]) -> None:
    from hayswitch_gradient.provider import GradientProvider

    register(GradientProvider)


@hookimpl
def register_contracts(register: Callable[[ContractDeclaration], None]) -> None:
    """Replay: the shipped cassettes, the recorded host and fake credentials. ``--live``: real
    requests with the ``GRADIENT_*`` environment."""
    host = json.loads(HOST_FILE.read_text(encoding="utf-8"))["host"] if HOST_FILE.is_file() else None
    settings: dict[str, Any] = {"base_model_slug": BASE_SLUG, "timeout": 30.0}
    if host:
        settings["host"] = host
    register(
        ContractDeclaration(
            provider="gradient",
            test_class_name="TestGradientContract",
            cassette_dir=CASSETTES,
            settings=settings,
            env={"GRADIENT_ACCESS_TOKEN": FAKE_TOKEN, "GRADIENT_WORKSPACE_ID": FAKE_WORKSPACE},
            live_settings={"base_model_slug": BASE_SLUG},
            heavy_modules=("gradientai",),
            scrub_headers=("authorization", "x-gradient-workspace-id"),
            kit={
                "fault_url_setting": "host",
                "fault_url_suffix": "/api",
                "non_secret_settings": ("max_generated_token_count",),  # "token" = LLM tokens
                "generation_options": {"max_tokens": 16, "temperature": 0.0},
                # The emulator answers every completion with a restatement of the prompt's last line, so
                # the prompt-driven (emulated) tool calls and JSON cannot be checked against it; the
                # emulation layer is tested in tests/core/test_tooling.py.
                "model_follows_instructions": False,
                "invalid_options": (
                    {"no_such_option": 1},
                    {"max_tokens": 0},
                    {"max_tokens": 512},
                    {"temperature": -1.0},
                    {"top_p": 2.0},
                    {"top_k": 0},
                    {"stop": ["\n"]},
                    {"guidance": []},
                    {"guidance": ["x" * 33]},
                ),
            },
        )
    )
