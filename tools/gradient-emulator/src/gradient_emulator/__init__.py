"""A local emulator of the retired Gradient AI HTTP API, for tests and benchmarks (dev only).

It follows the wire contract of ``gradientai`` 1.13.1 (see ``gradient-api.md``): the ``/api``
prefix, bearer + ``x-gradient-workspace-id`` checks (401/403), HTTP 200 with JSON on success only,
50-character model ids, ``onlyBase`` parsed case-insensitively, JSON ``null`` treated as absent,
the SDK's validation rules enforced server-side (400 ``bodyParsingError``), 404 for unknown ids and
slugs. Outputs are deterministic. Latency, a concurrency limit and faults are configurable at
start-up and at run time.

Use :func:`run_emulator` in tests, or ``python -m gradient_emulator --port 8080``.
"""

from __future__ import annotations

from gradient_emulator.app import create_app
from gradient_emulator.config import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_WORKSPACE_ID,
    OPERATIONS,
    BaseModelSpec,
    EmulatorConfig,
    FaultKind,
    FaultRule,
    LatencyConfig,
    default_base_models,
)
from gradient_emulator.outputs import EMBEDDING_DIMENSION, EMBEDDING_SLUG, embedding
from gradient_emulator.server import EmulatorError, EmulatorProcess, EmulatorServer, build_config, run_emulator
from gradient_emulator.state import EmulatorState

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_WORKSPACE_ID",
    "EMBEDDING_DIMENSION",
    "EMBEDDING_SLUG",
    "OPERATIONS",
    "BaseModelSpec",
    "EmulatorConfig",
    "EmulatorError",
    "EmulatorProcess",
    "EmulatorServer",
    "EmulatorState",
    "FaultKind",
    "FaultRule",
    "LatencyConfig",
    "build_config",
    "create_app",
    "default_base_models",
    "embedding",
    "run_emulator",
]
