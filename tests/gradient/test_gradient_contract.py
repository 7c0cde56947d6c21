"""The contract-test kit on the ``gradient`` provider, replayed from the cassettes shipped in
``hayswitch_gradient/cassettes`` (recorded with the real gradientai SDK against the emulator;
``HAYSWITCH_RECORD=1 pytest tests/gradient`` re-records them).

The class comes from the plugin's ContractDeclaration, as ``hayswitch check gradient`` builds it.
"""

from __future__ import annotations

import pytest
from gradient_emulator import EmulatorServer

from hayswitch.testing import contract_test_class


class TestGradientContract(contract_test_class("gradient")):  # type: ignore[misc]
    @pytest.fixture(autouse=True)
    def _server_when_recording(self, record_emulator: EmulatorServer | None) -> None:
        """Recording needs the emulator on the recorded port; replay needs nothing."""
