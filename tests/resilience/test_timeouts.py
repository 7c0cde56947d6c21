"""Per-request timeouts: every provider that sends requests exposes a ``timeout`` setting."""

from __future__ import annotations

import pytest

from hayswitch import SettingsError, get_provider_class, list_providers

IN_PROCESS = {"local", "wordbag"}
"""Providers that compute inside this process (embedded models, the template's bag of words):
there is no request to time out (see docs/reliability.md)."""


def _installed() -> list[str]:
    return sorted({info.name for info in list_providers() if info.error is None})


def test_only_in_process_providers_lack_a_timeout_setting() -> None:
    lacking = {name for name in _installed() if "timeout" not in get_provider_class(name).settings_model.model_fields}
    assert lacking <= IN_PROCESS, f"providers without a 'timeout' setting: {sorted(lacking - IN_PROCESS)}"


@pytest.mark.parametrize("name", [n for n in _installed() if n not in IN_PROCESS])
def test_timeout_setting_is_validated(name: str) -> None:
    cls = get_provider_class(name)
    field = cls.settings_model.model_fields["timeout"]
    assert field.default is None or field.default > 0
    with pytest.raises(SettingsError, match="timeout"):
        cls.validate_settings({"timeout": -1})


def test_the_known_remote_providers_are_covered() -> None:
    assert {"fake", "openai", "gradient"} <= set(_installed())
