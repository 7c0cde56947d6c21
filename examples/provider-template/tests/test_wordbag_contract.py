"""The hayswitch provider contract, run on ``wordbag``: one test per protocol rule.

Copy this file into your provider's tests and change ``provider_name`` and ``settings``. An HTTP
provider also sets ``cassette_dir`` (its recorded interactions) and ``env`` (dummy credentials
for replay); see the hayswitch testing guide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hayswitch.testing import ProviderContractTests
from hayswitch_wordbag import WordbagProvider


class TestWordbagContract(ProviderContractTests):
    provider_name = "wordbag"
    # The same settings `hayswitch check wordbag` uses, so both always agree.
    settings: ClassVar[Mapping[str, Any]] = WordbagProvider.contract_settings()["settings"]
