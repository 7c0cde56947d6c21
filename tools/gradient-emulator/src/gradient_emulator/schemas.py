"""Server-side request validation: the client-side rules of ``gradientai`` 1.13.1, enforced again.

Every model treats a JSON ``null`` exactly like a missing key (the SDK sends explicit nulls for
every optional field it was not given) and tolerates unknown keys (the SDK's models accept
``additional_properties``). Types are strict: ``27.0`` is not an integer, ``"1"`` is not a number.
A request that breaks a rule gets HTTP 400 with a ``bodyParsingError`` body (see
:func:`validation_error_body`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

__all__ = [
    "CompleteBody",
    "CreateModelBody",
    "EmbeddingsBody",
    "FineTuneBody",
    "error_body",
    "validation_error_body",
]

NonEmpty = Annotated[StrictStr, Field(min_length=1)]
Number = StrictFloat | StrictInt
Choice = Annotated[StrictStr, Field(min_length=1, max_length=32)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Guidance(_Wire):
    type: Literal["choice"]
    value: Annotated[list[Choice], Field(min_length=1, max_length=10)]


class Rag(_Wire):
    collection_id: NonEmpty = Field(alias="collectionId")


class CompleteBody(_Wire):
    """``POST /models/{id}/complete`` (gradient-api.md §6.5)."""

    query: NonEmpty
    auto_template: StrictBool | None = Field(default=None, alias="autoTemplate")
    max_generated_token_count: Annotated[StrictInt, Field(gt=0, lt=512)] | None = Field(
        default=None, alias="maxGeneratedTokenCount"
    )
    temperature: Number | None = None
    top_k: StrictInt | None = Field(default=None, alias="topK")
    top_p: Number | None = Field(default=None, alias="topP")
    guidance: Guidance | None = None
    rag: Rag | None = None


class _ModelRef(_Wire):
    base_model_id: NonEmpty = Field(alias="baseModelId")
    name: NonEmpty


class _Lora(_Wire):
    rank: Annotated[StrictInt, Field(gt=0, le=32)] | None = None


class _Training(_Wire):
    learning_rate: Annotated[Number, Field(gt=0, lt=1)] | None = Field(default=None, alias="learningRate")


class _Hyper(_Wire):
    lora_hyperparameters: _Lora | None = Field(default=None, alias="loraHyperparameters")
    training_arguments: _Training | None = Field(default=None, alias="trainingArguments")


class CreateModelBody(_Wire):
    """``POST /models`` (gradient-api.md §6.3)."""

    model: _ModelRef
    initial_hyperparameters: _Hyper | None = Field(default=None, alias="initialHyperparameters")


class _StructuredInput(_Wire):
    value: NonEmpty
    trainable: StrictBool | None = None
    parse_special_tokens: StrictBool | None = Field(default=None, alias="parseSpecialTokens")


class _FineTuningParameters(_Wire):
    multiplier: Annotated[Number, Field(gt=0)] | None = None


class _Sample(_Wire):
    inputs: NonEmpty | Annotated[list[_StructuredInput], Field(min_length=1)]
    fine_tuning_parameters: _FineTuningParameters | None = Field(default=None, alias="fineTuningParameters")

    def trainable_text(self) -> str:
        """The text that counts for training (structured inputs with ``trainable`` false are context)."""
        if isinstance(self.inputs, str):
            return self.inputs
        return "".join(part.value for part in self.inputs if part.trainable is not False)

    def full_text(self) -> str:
        if isinstance(self.inputs, str):
            return self.inputs
        return "".join(part.value for part in self.inputs)

    @property
    def multiplier(self) -> float:
        params = self.fine_tuning_parameters
        return float(params.multiplier) if params is not None and params.multiplier is not None else 1.0


class FineTuneBody(_Wire):
    """``POST /models/{id}/fine-tune`` (gradient-api.md §6.6). The SDK sets no size limit; the
    emulator refuses an empty list (nothing to train on)."""

    samples: Annotated[list[_Sample], Field(min_length=1)]


class _EmbeddingInput(_Wire):
    input: NonEmpty


class EmbeddingsBody(_Wire):
    """``POST /embeddings/{slug}`` (gradient-api.md §6.8): 1 to 256 non-empty inputs."""

    inputs: Annotated[list[_EmbeddingInput], Field(min_length=1, max_length=256)]


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """A typed error body (``{"type": ..., "message": ...}``) as in the SDK's ``*Error`` models."""
    return {"type": kind, "message": message, **extra}


def validation_error_body(exc: ValidationError | ValueError, *, kind: str = "bodyParsingError") -> dict[str, Any]:
    """The 400 body for a request that breaks the schema, with a readable summary."""
    if isinstance(exc, ValidationError):
        problems = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err.get("loc", ())) or "(body)"
            problems.append(f"{loc}: {err.get('msg', 'invalid')}")
        formatted = "; ".join(problems)
        details: Any = json.loads(exc.json(include_url=False, include_context=False, include_input=False))
    else:
        formatted = str(exc)
        details = [{"msg": str(exc)}]
    return error_body(
        kind,
        f"Invalid request: {formatted}",
        payload={"formattedValidationError": formatted, "validationError": details},
    )
