"""Optional fine-tuning capability.

A provider that can fine-tune subclasses :class:`FineTuning` as well as
:class:`~hayswitch.Provider` and declares ``Capabilities(fine_tuning=True)``. The generic
``hayswitch finetune`` commands work with any such provider.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hayswitch.errors import InvalidInputError
from hayswitch.provider import format_validation_error

__all__ = ["AdapterInfo", "FineTuneReport", "FineTuneSample", "FineTuning", "load_samples_jsonl"]


class FineTuneSample(BaseModel):
    """One training sample: the full text the model should learn (prompt and answer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: str = Field(min_length=1)
    multiplier: float | None = Field(default=None, gt=0, description="Weight of this sample.")


class AdapterInfo(BaseModel):
    """A fine-tuned model adapter."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    base_model: str
    updated_at: datetime | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class FineTuneReport(BaseModel):
    """What a fine-tuning run did."""

    model_config = ConfigDict(extra="forbid")

    adapter_id: str
    samples: int
    steps: int
    trainable_tokens: int
    loss: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


def coerce_samples(samples: Iterable[FineTuneSample | Mapping[str, Any] | str]) -> list[FineTuneSample]:
    """Accept samples as objects, dicts (``{"inputs": ...}``) or plain strings."""
    out: list[FineTuneSample] = []
    for i, s in enumerate(samples):
        try:
            if isinstance(s, FineTuneSample):
                out.append(s)
            elif isinstance(s, str):
                out.append(FineTuneSample(inputs=s))
            else:
                out.append(FineTuneSample.model_validate(dict(s)))
        except (ValidationError, TypeError, ValueError) as exc:
            detail = "; ".join(format_validation_error(exc)) if isinstance(exc, ValidationError) else str(exc)
            raise InvalidInputError(f"Fine-tuning sample {i}: {detail}") from None
    if not out:
        raise InvalidInputError("No fine-tuning samples were given.")
    return out


def load_samples_jsonl(path: str | Path) -> list[FineTuneSample]:
    """Read samples from a JSONL file with one ``{"inputs": "..."}`` object per line.

    :raises InvalidInputError: naming the file and line of the first bad record.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"Samples file {p} does not exist.") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"Samples file {p} is not UTF-8 text.") from None
    samples: list[FineTuneSample] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            samples.append(FineTuneSample.model_validate(record))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{p}:{lineno}: not valid JSON ({exc.msg}).") from None
        except ValidationError as exc:
            raise InvalidInputError(f"{p}:{lineno}: {'; '.join(format_validation_error(exc))}") from None
    if not samples:
        raise InvalidInputError(f"Samples file {p} holds no samples.")
    return samples


class FineTuning(ABC):
    """Mixin for providers that can create and train model adapters."""

    @abstractmethod
    def create_adapter(
        self, *, base_model: str, name: str, rank: int | None = None, learning_rate: float | None = None
    ) -> AdapterInfo:
        """Create a new adapter on ``base_model`` (a slug or id)."""

    @abstractmethod
    def fine_tune(
        self,
        adapter_id: str,
        samples: Iterable[FineTuneSample | Mapping[str, Any] | str],
        *,
        batch_size: int = 8,
        progress_bar: bool = True,
    ) -> FineTuneReport:
        """Train ``adapter_id`` on ``samples`` (with a progress bar over the samples)."""

    @abstractmethod
    def list_adapters(self) -> list[AdapterInfo]:
        """The adapters visible to these credentials."""

    @abstractmethod
    def get_adapter(self, adapter_id: str) -> AdapterInfo:
        """Describe one adapter (raises NotFoundError if unknown)."""

    @abstractmethod
    def delete_adapter(self, adapter_id: str) -> None:
        """Delete an adapter (raises NotFoundError if unknown)."""
