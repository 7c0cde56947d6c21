"""The contract-test kit for hayswitch providers (``pip install hayswitch[testing]``).

A provider's test module subclasses :class:`ProviderContractTests` and names the provider; every
protocol rule becomes its own test (``test_embed_batch_one_above_max_size``,
``test_invalid_options_fail_before_any_request``, ...). Checks that do not apply to the
provider's declared capabilities are skipped with the reason; everything else must pass.

A provider that makes no HTTP requests (``tests/myprovider/test_contract.py``)::

    from hayswitch.testing import ProviderContractTests


    class TestMyProviderContract(ProviderContractTests):
        provider_name = "myprovider"
        settings = {"model": "tiny"}

A provider that talks HTTP replays cassettes, one per test, from ``cassette_dir``::

    from pathlib import Path

    from hayswitch.testing import ProviderContractTests

    CASSETTES = Path(__file__).parents[2] / "cassettes" / "myapi"


    class TestMyApiContract(ProviderContractTests):
        provider_name = "myapi"
        settings = {"base_url": "https://api.example.com/v1", "api_key": "env:MYAPI_KEY"}
        env = {"MYAPI_KEY": "dummy-key-for-replay"}  # the real key is only needed to record
        cassette_dir = CASSETTES

Record (never under CI) with ``make record PROVIDER=myapi`` or ``HAYSWITCH_RECORD=1 pytest -m
cassette tests/myapi``; the default is replay only. Headers and query parameters named in the
provider class's ``scrub_headers`` / ``scrub_query_params`` are stored as ``REDACTED``; a test
fails when its cassette holds interactions it did not play.

For your own cassette tests, use :func:`use_cassette` directly, or pytest-recording with
:func:`cassette_config` (the ``hayswitch`` pytest plugin, registered through the ``pytest11``
entry point, adds the readable serializer, the body matcher and the unplayed-interactions check)::

    import pytest

    from hayswitch.testing import cassette_config


    @pytest.fixture
    def vcr_config():
        return cassette_config(MyApiProvider)


    @pytest.fixture
    def vcr_cassette_dir():
        return str(CASSETTES)


    @pytest.mark.cassette
    @pytest.mark.vcr
    def test_model_not_found_is_translated(provider): ...
"""

from __future__ import annotations

from hayswitch.testing.cassettes import (
    REDACTED,
    CassetteRecordingError,
    UnplayedInteractionsError,
    assert_all_played,
    cassette_config,
    cassette_path,
    is_recording,
    make_vcr,
    record_mode,
    use_cassette,
)
from hayswitch.testing.contract import (
    DEFAULT_HEAVY_MODULES,
    ProviderContractTests,
    RequestLog,
    cassette_dir_for,
    check_descriptions,
    contract_test_class,
)
from hayswitch.testing.faults import FaultServer

__all__ = [
    "DEFAULT_HEAVY_MODULES",
    "REDACTED",
    "CassetteRecordingError",
    "FaultServer",
    "ProviderContractTests",
    "RequestLog",
    "UnplayedInteractionsError",
    "assert_all_played",
    "cassette_config",
    "cassette_dir_for",
    "cassette_path",
    "check_descriptions",
    "contract_test_class",
    "is_recording",
    "make_vcr",
    "record_mode",
    "use_cassette",
]
