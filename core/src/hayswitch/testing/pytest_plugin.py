"""The ``hayswitch`` pytest plugin (registered through the ``pytest11`` entry point).

It is loaded automatically in any pytest run where hayswitch is installed, and:

* registers the ``contract`` and ``cassette`` markers;
* refuses ``HAYSWITCH_RECORD`` under ``CI`` (a usage error before any test runs);
* registers the readable ``hayswitch.yaml`` serializer and the ``hayswitch_body`` matcher on
  every pytest-recording VCR (``pytest_recording_configure``);
* fails a test whose cassette holds interactions it did not play -- both the cassettes of
  :class:`~hayswitch.testing.ProviderContractTests` and pytest-recording's ``@pytest.mark.vcr``
  cassettes;
* provides the ``hayswitch_record_mode`` fixture.

Importing it does not import vcrpy (only the functions that need it do).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from hayswitch.testing.cassettes import CassetteRecordingError, assert_all_played, record_mode
from hayswitch.testing.contract import CASSETTES_KEY, CHECKED_KEY


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract: part of the provider contract-test kit")
    config.addinivalue_line(
        "markers", "cassette: replays recorded HTTP interactions (vcrpy); re-record with HAYSWITCH_RECORD=1"
    )
    try:
        record_mode()
    except CassetteRecordingError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    from hayswitch.testing.cassettes import register_vcr_extensions

    register_vcr_extensions(vcr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    try:
        result = yield
    finally:
        # The fixture teardown does not check again (a failed test already reports its failure).
        item.stash[CHECKED_KEY] = True
    # Reached only when the test body passed: now its cassettes must have been fully played.
    stored: list[Any] = item.stash.get(CASSETTES_KEY, [])
    cassettes = list(stored)
    funcargs = getattr(item, "funcargs", {})
    vcr_cassette = funcargs.get("vcr")
    if vcr_cassette is not None and hasattr(vcr_cassette, "all_played") and _pytest_recording_replays(item):
        cassettes.append(vcr_cassette)
    if cassettes and record_mode() == "none":
        for cassette in cassettes:
            assert_all_played(cassette)
    return result


def _pytest_recording_replays(item: pytest.Item) -> bool:
    option = item.config.getoption("--record-mode", default=None)
    return option in (None, "none")


@pytest.fixture(scope="session")
def hayswitch_record_mode() -> str:
    """``"none"`` (replay), ``"rewrite"`` or ``"new_episodes"``, from ``HAYSWITCH_RECORD``."""
    return record_mode()
