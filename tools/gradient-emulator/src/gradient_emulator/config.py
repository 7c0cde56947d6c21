"""Configuration of the emulator: credentials, latency, concurrency and fault rules.

Everything here can be set at start-up (CLI flags of ``python -m gradient_emulator``, or the
keyword arguments of :func:`gradient_emulator.run_emulator`) and changed at run time through the
admin endpoints (``POST /_admin/config``, ``POST /_admin/faults``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_WORKSPACE_ID",
    "OPERATIONS",
    "BaseModelSpec",
    "EmulatorConfig",
    "FaultKind",
    "FaultRule",
    "LatencyConfig",
    "default_base_models",
]

DEFAULT_ACCESS_TOKEN = "emulator-access-token"
"""The bearer token the emulator accepts unless told otherwise (obviously not a real token)."""
DEFAULT_WORKSPACE_ID = "emulator_workspace"
"""The workspace id the emulator accepts unless told otherwise."""

FaultKind = Literal["429", "500", "503", "reset", "slow", "malformed", "wrong_count"]
"""What an injected fault does:

* ``"429"``: answer 429 with a ``Retry-After`` header (``retry_after`` seconds, default 1).
* ``"500"`` / ``"503"``: answer that status (503 carries ``Retry-After`` when ``retry_after`` is set).
* ``"reset"``: abort the TCP connection with a RST before answering (the client sees a
  connection reset / protocol error).
* ``"slow"``: wait ``delay`` extra seconds, then answer normally (to trip client timeouts).
* ``"malformed"``: answer 200 with a truncated, unparseable JSON body.
* ``"wrong_count"``: embeddings only; answer 200 with one vector fewer than there are inputs (an
  empty list for a single input).
"""

OPERATIONS = (
    "list_models",
    "get_model",
    "create_model",
    "delete_model",
    "complete",
    "fine_tune",
    "list_embeddings",
    "embed",
)
"""Operation names a fault rule can target (``endpoint``), plus ``"any"``."""

_ENDPOINT_ALIASES = {"embeddings": "embed", "generate": "complete", "fine-tune": "fine_tune", "finetune": "fine_tune"}


class FaultRule(BaseModel):
    """One fault-injection rule. The first rule that matches a request and fires decides its fate.

    :param kind: what happens (see :data:`FaultKind`).
    :param rate: probability that a matching request triggers the fault (seeded RNG).
    :param times: trigger at most this many times, then the rule is spent (None: unlimited).
    :param skip: let the first ``skip`` matching requests through before the rule can fire.
    :param endpoint: operation to target (one of :data:`OPERATIONS`, an alias such as
        ``"embeddings"``, or ``"any"``).
    :param contains: only requests whose raw body contains this substring.
    :param retry_after: seconds for the ``Retry-After`` header (429, 503).
    :param delay: extra seconds before answering (``"slow"``).
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    times: int | None = Field(default=None, ge=0)
    skip: int = Field(default=0, ge=0)
    endpoint: str = "any"
    contains: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0.0, le=600.0)

    @model_validator(mode="after")
    def _check_endpoint(self) -> FaultRule:
        self.endpoint = _ENDPOINT_ALIASES.get(self.endpoint, self.endpoint)
        if self.endpoint != "any" and self.endpoint not in OPERATIONS:
            raise ValueError(f"endpoint must be 'any' or one of {', '.join(OPERATIONS)}; got {self.endpoint!r}")
        if self.kind == "slow" and self.delay <= 0:
            raise ValueError("a 'slow' fault needs a positive 'delay' (seconds)")
        if self.kind == "wrong_count" and self.endpoint not in ("any", "embed"):
            raise ValueError("'wrong_count' only applies to the embed endpoint")
        return self


class LatencyConfig(BaseModel):
    """Simulated service time of every API request: ``fixed + per_input * number_of_inputs``
    (inputs are embedding texts, fine-tuning samples, or 1 for other calls)."""

    model_config = ConfigDict(extra="forbid")

    fixed: float = Field(default=0.0, ge=0.0, le=60.0)
    per_input: float = Field(default=0.0, ge=0.0, le=10.0)


class BaseModelSpec(BaseModel):
    """A base model the emulator serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(min_length=1)
    name: str = Field(min_length=1)
    capabilities: tuple[Literal["complete", "fineTune"], ...] = ("complete", "fineTune")
    guidance: bool = True


def default_base_models() -> list[BaseModelSpec]:
    """The base models named in the public Gradient/Haystack sources (gradient-api.md §7).

    Which of them support fine-tuning and guidance is the emulator's choice ([inferred]): the
    small ``bloom-560m`` is complete-only and has no guidance, so tests can exercise
    ``modelIncapableOfFineTuning`` and ``modelDoesNotSupportGuidance``.
    """
    return [
        BaseModelSpec(slug="bloom-560m", name="Bloom 560M", capabilities=("complete",), guidance=False),
        BaseModelSpec(slug="llama2-7b-chat", name="Llama 2 7B Chat"),
        BaseModelSpec(slug="nous-hermes2", name="Nous Hermes 2"),
    ]


class EmulatorConfig(BaseModel):
    """Start-up configuration of the emulator.

    :param access_tokens: bearer tokens accepted (others get 401).
    :param workspace_ids: workspace ids accepted with those tokens (others get 403).
    :param latency: simulated service time per request.
    :param max_concurrency: requests served at once (None: unlimited). Extra requests wait for a
        slot (``concurrency_mode="queue"``) or get 429 (``"reject"``).
    :param concurrency_mode: what happens above ``max_concurrency``.
    :param reject_retry_after: ``Retry-After`` seconds on a ``"reject"`` 429.
    :param faults: initial fault rules.
    :param seed: seeds adapter ids and fault probabilities (deterministic runs).
    :param default_max_tokens: generation length when ``maxGeneratedTokenCount`` is null.
    :param base_models: the base models served.
    :param prefix: the API path prefix (the SDK's host must end with it).
    """

    model_config = ConfigDict(extra="forbid")

    access_tokens: list[str] = Field(default_factory=lambda: [DEFAULT_ACCESS_TOKEN], min_length=1)
    workspace_ids: list[str] = Field(default_factory=lambda: [DEFAULT_WORKSPACE_ID], min_length=1)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    max_concurrency: int | None = Field(default=None, gt=0)
    concurrency_mode: Literal["queue", "reject"] = "queue"
    reject_retry_after: float = Field(default=0.05, ge=0)
    faults: list[FaultRule] = Field(default_factory=list)
    seed: int = 0
    default_max_tokens: int = Field(default=64, gt=0, lt=512)
    base_models: list[BaseModelSpec] = Field(default_factory=default_base_models, min_length=1)
    prefix: str = "/api"

    @model_validator(mode="after")
    def _check(self) -> EmulatorConfig:
        if not self.prefix.startswith("/") or (self.prefix.endswith("/") and self.prefix != "/"):
            raise ValueError("prefix must start with '/' and not end with '/' (e.g. '/api')")
        slugs = [m.slug for m in self.base_models]
        if len(set(slugs)) != len(slugs):
            raise ValueError("base model slugs must be unique")
        if any(not t for t in self.access_tokens) or any(not w for w in self.workspace_ids):
            raise ValueError("access tokens and workspace ids must be non-empty")
        return self
