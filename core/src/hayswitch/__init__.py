"""hayswitch: one provider protocol, many backends, the same Haystack pipeline.

Public API::

    import hayswitch

    provider = hayswitch.get_provider()            # whichever provider is configured
    provider = hayswitch.get_provider("fake", dimension=32)
    hayswitch.list_providers()                      # discovered plugins, no SDK imported

Provider authors subclass :class:`Provider` and register it with :data:`hookimpl`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from hayswitch.api import get_provider, get_provider_class, list_providers, resolve_provider
from hayswitch.config import DEFAULT_PROVIDER, resolve_config
from hayswitch.contracts import ContractDeclaration
from hayswitch.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthError,
    DuplicateProviderError,
    EmbeddingFailedError,
    HayswitchError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    PluginLoadError,
    ProviderConnectionError,
    ProviderError,
    ProviderNotFoundError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseError,
    ServerError,
    SettingsError,
    UnsupportedOperation,
)
from hayswitch.finetune import AdapterInfo, FineTuneReport, FineTuneSample, FineTuning
from hayswitch.hookspecs import hookimpl
from hayswitch.http import error_for_status, normalise_finish_reason, redact
from hayswitch.provider import InputType, Provider, ProviderSettings
from hayswitch.registry import ProviderInfo, get_registry, reset_registry
from hayswitch.retry import NO_RETRY, RetryPolicy, parse_retry_after
from hayswitch.secrets import MissingSecretError, Secret, SecretField
from hayswitch.types import (
    Capabilities,
    EmbeddingResult,
    FinishReason,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    Message,
    NamedToolChoice,
    ResponseFormat,
    TextEmbedding,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
    Usage,
)

try:
    __version__ = version("hayswitch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DEFAULT_PROVIDER",
    "NO_RETRY",
    "AdapterInfo",
    "AuthenticationError",
    "Capabilities",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthError",
    "ContractDeclaration",
    "DuplicateProviderError",
    "EmbeddingFailedError",
    "EmbeddingResult",
    "FineTuneReport",
    "FinishReason",
    "FineTuneSample",
    "FineTuning",
    "GenerationChunk",
    "GenerationOptions",
    "GenerationResult",
    "HayswitchError",
    "InputType",
    "InvalidInputError",
    "InvalidRequestError",
    "Message",
    "MissingSecretError",
    "NamedToolChoice",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginLoadError",
    "Provider",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderInfo",
    "ProviderNotFoundError",
    "ProviderSettings",
    "ProviderTimeoutError",
    "RateLimitError",
    "ResponseError",
    "ResponseFormat",
    "RetryPolicy",
    "Secret",
    "SecretField",
    "ServerError",
    "SettingsError",
    "TextEmbedding",
    "ToolCall",
    "ToolCallDelta",
    "ToolDefinition",
    "UnsupportedOperation",
    "Usage",
    "__version__",
    "error_for_status",
    "get_provider",
    "get_provider_class",
    "get_registry",
    "hookimpl",
    "list_providers",
    "normalise_finish_reason",
    "parse_retry_after",
    "redact",
    "reset_registry",
    "resolve_config",
    "resolve_provider",
]
