"""Suite-wide test hygiene: no network model hubs, no leaking user configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_hayswitch_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Each test starts with no HAYSWITCH_* configuration from the developer's shell and a fresh
    registry, and runs outside the repository (so a stray hayswitch.toml is not picked up)."""
    from hayswitch import reset_registry

    for key in list(os.environ):
        if key.startswith("HAYSWITCH_") and key != "HAYSWITCH_RECORD":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    reset_registry()
    yield
    reset_registry()
