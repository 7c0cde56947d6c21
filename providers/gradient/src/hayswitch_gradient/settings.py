"""Settings and generation options of the ``gradient`` provider (no SDK import here)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from hayswitch.provider import ProviderSettings
from hayswitch.secrets import Secret, SecretField
from hayswitch.types import GenerationOptions

__all__ = [
    "ADAPTER_ID_LENGTH",
    "BGE_LARGE_DIMENSION",
    "DEFAULT_EMBEDDING_MODEL",
    "GradientOptions",
    "GradientSettings",
    "GuidanceChoice",
]

DEFAULT_EMBEDDING_MODEL = "bge-large"
BGE_LARGE_DIMENSION = 1024
ADAPTER_ID_LENGTH = 50
"""Gradient model ids are ``<uuid4>_model_adapter`` / ``<uuid4>_base_ml_model``: 50 characters."""

GuidanceChoice = Annotated[str, StringConstraints(min_length=1, max_length=32)]
"""One allowed output of guided generation (the API accepts 1 to 10 of them, 1 to 32 characters)."""


class GradientSettings(ProviderSettings):
    """Settings of the ``gradient`` provider.

    Secrets are references (``env:NAME`` or :class:`hayswitch.Secret`), resolved only when the
    provider is created.

    :param access_token: bearer token (default: env ``GRADIENT_ACCESS_TOKEN``).
    :param workspace_id: workspace id (default: env ``GRADIENT_WORKSPACE_ID``).
    :param host: API base URL including the ``/api`` prefix, e.g. ``http://127.0.0.1:8080/api``
        (default: env ``GRADIENT_API_URL``, else the SDK's ``https://api.gradient.ai/api``).
    :param embedding_model: embeddings model slug (the API has only ``bge-large``, 1024-d).
    :param base_model_slug: base model to generate with (e.g. ``nous-hermes2``).
    :param model_adapter_id: fine-tuned adapter to generate with (50-character id). Set at most
        one of the two; with neither, embeddings work and generation raises ConfigurationError.
    :param max_generated_token_count: default reply length in tokens (1 to 511).
    :param temperature: default sampling temperature.
    :param top_k: default top-k (a positive integer).
    :param top_p: default nucleus mass (0 < p <= 1).
    :param guidance: default guided-generation choices: the reply is one of them.
    :param auto_template: let the server wrap the prompt in the model's template (server default:
        true). Also decides how chat messages are flattened (see the provider docs).
    :param tool_choice_guidance: pick the tool of an emulated tool call with choice guidance (the
        reply constrained to one of the tool names, plus ``"answer"`` under ``tool_choice="auto"``)
        before its arguments are generated; skipped for more than 10 choices or names longer than
        32 characters, and for models without guidance.
    :param timeout: seconds per request (connect + each read), embeddings and generation.
    :param fine_tune_timeout: seconds per fine-tuning request (training happens synchronously).
    :param max_connections: HTTP connections kept per host (at least the request concurrency).
    """

    access_token: SecretField = Field(default_factory=lambda: Secret.from_env_var("GRADIENT_ACCESS_TOKEN"))
    workspace_id: SecretField = Field(default_factory=lambda: Secret.from_env_var("GRADIENT_WORKSPACE_ID"))
    host: str | None = Field(default=None, description="API base URL including /api; default GRADIENT_API_URL.")
    embedding_model: str = Field(default=DEFAULT_EMBEDDING_MODEL, min_length=1)
    base_model_slug: str | None = Field(default=None, min_length=1)
    model_adapter_id: str | None = Field(default=None, min_length=ADAPTER_ID_LENGTH, max_length=ADAPTER_ID_LENGTH)
    max_generated_token_count: int | None = Field(default=None, gt=0, lt=512)
    temperature: float | None = Field(default=None, ge=0)
    top_k: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    guidance: list[GuidanceChoice] | None = Field(default=None, min_length=1, max_length=10)
    auto_template: bool | None = None
    tool_choice_guidance: bool = True
    timeout: float = Field(default=60.0, gt=0, le=3600)
    fine_tune_timeout: float = Field(default=600.0, gt=0, le=86400)
    max_connections: int = Field(default=32, gt=0, le=1024)

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("host must be an http(s) URL including the API prefix, e.g. https://api.gradient.ai/api")
        return value

    @model_validator(mode="after")
    def _one_model(self) -> GradientSettings:
        if self.base_model_slug is not None and self.model_adapter_id is not None:
            raise ValueError(
                "set only one of base_model_slug and model_adapter_id (an adapter already knows its base model)"
            )
        return self


class GradientOptions(GenerationOptions):
    """Per-call generation options of the ``gradient`` provider (override the settings).

    ``max_tokens`` maps to ``maxGeneratedTokenCount`` (1 to 511). Gradient has no stop sequences
    and no seed: passing them raises InvalidInputError before any request.
    """

    max_tokens: int | None = Field(default=None, gt=0, lt=512, description="Maximum generated tokens (1..511).")
    top_k: int | None = Field(default=None, gt=0, description="Top-k sampling.")
    guidance: list[GuidanceChoice] | None = Field(
        default=None, min_length=1, max_length=10, description="The reply is one of these choices."
    )
    auto_template: bool | None = Field(default=None, description="Server-side prompt templating.")

    @field_validator("stop", "seed", mode="after")
    @classmethod
    def _unsupported(cls, value: Any, info: Any) -> Any:
        if value is not None:
            raise ValueError(f"the Gradient API has no '{info.field_name}' option; leave it unset")
        return value
