"""One local Ray cluster per test session (starting Ray takes seconds), with 2 CPUs, no dashboard,
no usage statistics; shut down at the end of the session. Tests that need it take ``ray_cluster``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ModuleType]:
    from hayswitch.ray import start_ray

    # Workers import test helpers (ray_helpers.py) from this folder.
    pythonpath = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    ray = start_ray(address=None, num_cpus=2, env_vars={"PYTHONPATH": pythonpath})
    try:
        yield ray
    finally:
        ray.shutdown()
