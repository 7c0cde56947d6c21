"""The provider contract-test kit, run on the ``local`` provider (real models, CPU)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from hayswitch.testing import ProviderContractTests

pytestmark = [pytest.mark.slow]


class TestLocalContract(ProviderContractTests):
    provider_name = "local"
    generation_options: ClassVar[dict[str, Any]] = {"max_tokens": 12, "temperature": 0.0}
    # 12,000 words is ~50,000 word pieces; the model truncates at 256, so a shorter text proves the
    # same thing without spending seconds in the tokenizer.
    long_text_words: ClassVar[int] = 3_000
