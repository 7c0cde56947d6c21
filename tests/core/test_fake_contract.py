"""The contract-test kit run on the ``fake`` provider: every check must pass (or be skipped only
where the fake genuinely lacks the capability)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hayswitch.testing import ProviderContractTests


class TestFakeContract(ProviderContractTests):
    provider_name = "fake"
    settings: ClassVar[Mapping[str, Any]] = {"dimension": 48, "api_key": "env:HAYSWITCH_TEST_FAKE_KEY"}
    env: ClassVar[Mapping[str, str]] = {"HAYSWITCH_TEST_FAKE_KEY": "fake-secret-value-123"}
    long_text_words = 3_000
