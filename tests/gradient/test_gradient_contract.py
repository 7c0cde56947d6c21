"""The contract-test kit on the ``gradient`` provider, replayed from cassettes recorded with the
real gradientai SDK against the emulator (``make record PROVIDER=gradient`` re-records them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from gradient_emulator import EmulatorServer
from gradient_support import CASSETTES, cassette_settings, credential_env

from hayswitch.testing import ProviderContractTests


class TestGradientContract(ProviderContractTests):
    provider_name = "gradient"
    settings: ClassVar[Mapping[str, Any]] = cassette_settings()
    env: ClassVar[Mapping[str, str]] = credential_env()
    cassette_dir = CASSETTES
    non_secret_settings: ClassVar[tuple[str, ...]] = ("max_generated_token_count",)  # "token" = LLM tokens
    generation_options: ClassVar[Mapping[str, Any]] = {"max_tokens": 16, "temperature": 0.0}
    # The emulator answers every completion with a restatement of the prompt's last line, so the
    # prompt-driven (emulated) tool calls and JSON cannot be checked against it; the emulation
    # layer is tested in tests/core/test_tooling.py.
    model_follows_instructions: ClassVar[bool] = False
    invalid_options: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"no_such_option": 1},
        {"max_tokens": 0},
        {"max_tokens": 512},
        {"temperature": -1.0},
        {"top_p": 2.0},
        {"top_k": 0},
        {"stop": ["\n"]},
        {"guidance": []},
        {"guidance": ["x" * 33]},
    )

    @pytest.fixture(autouse=True)
    def _server_when_recording(self, record_emulator: EmulatorServer | None) -> None:
        """Recording needs the emulator on the recorded port; replay needs nothing."""
