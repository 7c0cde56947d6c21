"""Mutable emulator state: models and adapters per workspace, statistics, fault rules, limits.

The state is shared by the server's event loop and (in thread mode) the test that started it, so
every mutation happens under one lock. The concurrency limiter lives on the event loop.
"""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gradient_emulator.config import BaseModelSpec, EmulatorConfig, FaultRule, LatencyConfig

__all__ = ["Adapter", "BaseModelEntry", "ConcurrencyLimiter", "EmulatorState"]

_ID_NAMESPACE = uuid.UUID("8c0f5a52-3a3e-4a8e-9b55-3f7f3b1d2c10")


@dataclass
class BaseModelEntry:
    """A served base model; its id is derived from the slug, so it is the same in every run."""

    spec: BaseModelSpec
    id: str

    @classmethod
    def from_spec(cls, spec: BaseModelSpec) -> BaseModelEntry:
        return cls(spec=spec, id=f"{uuid.uuid5(_ID_NAMESPACE, spec.slug)}_base_ml_model")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.spec.name,
            "slug": self.spec.slug,
            "type": "baseModel",
            "capabilities": list(self.spec.capabilities),
        }


@dataclass
class Adapter:
    """A model adapter created in one workspace."""

    id: str
    name: str
    base: BaseModelEntry
    rank: int | None
    learning_rate: float | None
    updated: datetime
    trained: list[str] = field(default_factory=list)
    epochs: int = 0

    def to_json(self) -> dict[str, Any]:
        stamp = self.updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "id": self.id,
            "name": self.name,
            "baseModelId": self.base.id,
            "type": "modelAdapter",
            "latestUpdateTime": stamp,
        }


@dataclass
class _RuleState:
    rule: FaultRule
    seen: int = 0
    fired: int = 0

    def spent(self) -> bool:
        return self.rule.times is not None and self.fired >= self.rule.times

    def to_json(self) -> dict[str, Any]:
        return {**self.rule.model_dump(), "seen": self.seen, "fired": self.fired, "spent": self.spent()}


class ConcurrencyLimiter:
    """At most ``limit`` requests are served at once (None: unlimited); the limit can change while
    the server runs (from any thread)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.active = 0
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
            self._loop = asyncio.get_running_loop()
        return self._cond

    def _free(self) -> bool:
        return self.limit is None or self.active < self.limit

    async def acquire(self) -> None:
        cond = self._condition()
        async with cond:
            await cond.wait_for(self._free)
            self.active += 1

    def try_acquire(self) -> bool:
        self._condition()
        if self._free():
            self.active += 1
            return True
        return False

    async def release(self) -> None:
        cond = self._condition()
        async with cond:
            self.active -= 1
            cond.notify_all()

    async def _wake(self) -> None:
        cond = self._condition()
        async with cond:
            cond.notify_all()

    def set_limit(self, limit: int | None) -> None:
        self.limit = limit
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(self._wake()))


class EmulatorState:
    """Everything the emulator remembers between requests."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._lock = threading.RLock()
        self.config = config
        self.base_models = [BaseModelEntry.from_spec(spec) for spec in config.base_models]
        self.adapters: dict[str, dict[str, Adapter]] = {}
        self._id_rng = random.Random(config.seed)
        self._fault_rng = random.Random(config.seed + 1)
        self.rules = [_RuleState(rule) for rule in config.faults]
        self.limiter = ConcurrencyLimiter(config.max_concurrency)
        self.reset_stats()

    # ------------------------------------------------------------------ config
    @property
    def latency(self) -> LatencyConfig:
        return self.config.latency

    def configure(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        """Apply run-time changes (latency, limits, credentials, ...); returns the new config.

        :raises pydantic.ValidationError: for invalid values (nothing is changed then).
        """
        with self._lock:
            merged = self.config.model_dump()
            for key, value in changes.items():
                if key == "latency" and isinstance(value, Mapping):
                    merged["latency"] = {**merged["latency"], **value}
                else:
                    merged[key] = value
            new = EmulatorConfig.model_validate(merged)
            if new.base_models != self.config.base_models:
                raise ValueError("base_models cannot change while the emulator runs")
            self.config = new
            if "faults" in changes:
                self.rules = [_RuleState(rule) for rule in new.faults]
            self.limiter.set_limit(new.max_concurrency)
            return new

    # ------------------------------------------------------------------ auth
    def token_ok(self, token: str) -> bool:
        return token in self.config.access_tokens

    def workspace_ok(self, workspace: str) -> bool:
        return workspace in self.config.workspace_ids

    # ------------------------------------------------------------------ models
    def base_by_id(self, model_id: str) -> BaseModelEntry | None:
        return next((m for m in self.base_models if m.id == model_id), None)

    def workspace_adapters(self, workspace: str) -> dict[str, Adapter]:
        with self._lock:
            return self.adapters.setdefault(workspace, {})

    def new_adapter_id(self) -> str:
        with self._lock:
            return f"{uuid.UUID(int=self._id_rng.getrandbits(128), version=4)}_model_adapter"

    def add_adapter(
        self, workspace: str, *, name: str, base: BaseModelEntry, rank: int | None, learning_rate: float | None
    ) -> Adapter:
        with self._lock:
            adapter = Adapter(
                id=self.new_adapter_id(),
                name=name,
                base=base,
                rank=rank,
                learning_rate=learning_rate,
                updated=datetime.now(UTC),
            )
            self.workspace_adapters(workspace)[adapter.id] = adapter
            return adapter

    def reset_models(self) -> None:
        with self._lock:
            self.adapters.clear()
            self._id_rng = random.Random(self.config.seed)

    # ------------------------------------------------------------------ faults
    def add_faults(self, rules: Iterable[FaultRule], *, replace: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            if replace:
                self.rules = []
            self.rules.extend(_RuleState(rule) for rule in rules)
            return self.faults()

    def clear_faults(self) -> None:
        with self._lock:
            self.rules = []

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_json() for r in self.rules]

    def pick_fault(self, operation: str, body: bytes) -> FaultRule | None:
        """The first rule that matches this request and fires (counting it), if any."""
        with self._lock:
            for state in self.rules:
                rule = state.rule
                if state.spent() or rule.endpoint not in ("any", operation):
                    continue
                if rule.kind == "wrong_count" and operation != "embed":
                    continue
                if rule.contains is not None and rule.contains.encode() not in body:
                    continue
                state.seen += 1
                if state.seen <= rule.skip:
                    continue
                if rule.rate < 1.0 and self._fault_rng.random() >= rule.rate:
                    continue
                state.fired += 1
                self._faults[rule.kind] += 1
                return rule
            return None

    # ------------------------------------------------------------------ stats
    def reset_stats(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_operation: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._embedded_inputs = 0
            self._embed_batch_sizes: deque[int] = deque(maxlen=100_000)
            # Requests being served right now stay counted (they will leave service later).
            self._in_flight = getattr(self, "_in_flight", 0)
            self._max_in_flight = self._in_flight
            self._recent: deque[dict[str, Any]] = deque(maxlen=500)

    def begin(self, operation: str) -> None:
        with self._lock:
            self._requests += 1
            self._by_operation[operation] += 1

    def enter_service(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave_service(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def finish(self, operation: str, status: int, *, inputs: int = 0, path: str = "") -> None:
        with self._lock:
            self._by_status[str(status)] += 1
            if operation == "embed" and status == 200:
                self._embedded_inputs += inputs
                self._embed_batch_sizes.append(inputs)
            self._recent.append({"operation": operation, "status": status, "inputs": inputs, "path": path})

    def stats(self) -> dict[str, Any]:
        """Request counts and more, as JSON-ready data (``GET /_admin/stats``)."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_operation": dict(self._by_operation),
                "by_status": dict(self._by_status),
                "faults_injected": dict(self._faults),
                "embedded_inputs": self._embedded_inputs,
                "embed_batch_sizes": list(self._embed_batch_sizes),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "adapters": sum(len(a) for a in self.adapters.values()),
                "recent": list(self._recent),
            }
