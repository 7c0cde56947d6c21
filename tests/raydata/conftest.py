"""One local Ray cluster per test session (starting Ray takes seconds), with 2 CPUs, no dashboard,
no usage statistics; shut down at the end of the session. Tests that need it take ``ray_cluster``.

The workers get this folder on their ``PYTHONPATH`` (for ``ray_helpers``) and ``HAYSWITCH_CONFIG``
pointing at :data:`WORKER_CONFIG` (the ``ray_config`` fixture's file), so a test can select one of
its profiles on both sides (the driver reads the same file through the fixture)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent

WORKER_CONFIG = """
[profiles.flaky]
provider = "fake"

[profiles.flaky.settings]
dimension = 32
fail_on = ["POISON"]
fail_with = "invalid"
"""


@pytest.fixture(scope="session")
def ray_config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ray-config") / "hayswitch.toml"
    path.write_text(WORKER_CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def ray_cluster(ray_config_file: Path) -> Iterator[ModuleType]:
    from hayswitch.ray import start_ray

    pythonpath = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    ray = start_ray(
        address=None, num_cpus=2, env_vars={"PYTHONPATH": pythonpath, "HAYSWITCH_CONFIG": str(ray_config_file)}
    )
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def ray_config(ray_config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workers' config file, in effect in this (driver) process too."""
    monkeypatch.setenv("HAYSWITCH_CONFIG", str(ray_config_file))
    return ray_config_file
