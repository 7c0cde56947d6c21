"""The ``gradient`` provider: the Gradient AI platform through the ``gradientai`` 1.13.1 SDK.

* Embeddings: ``POST /embeddings/{slug}`` with at most 256 inputs per request (the core batches at
  :attr:`~hayswitch.Provider.max_batch_size` and the components run :attr:`default_concurrency`
  requests at once unless told otherwise; we never use the SDK's own thread fan-out).
* Generation: ``POST /models/{id}/complete`` on a base model (``base_model_slug``) or a fine-tuned
  adapter (``model_adapter_id``); chat messages are flattened into one query
  (:mod:`hayswitch_gradient.prompt`). Gradient has no streaming.
* Fine-tuning (:class:`hayswitch.FineTuning`): create, train, list, describe and delete adapters.

We call the SDK's generated client (``gradientai.openapi.client``: ``ApiClient``, ``ModelsApi``,
``EmbeddingsApi``), the layer ``gradientai.Gradient`` wraps, with the same request bodies the
high-level methods send (explicit ``null`` for unset options, ``onlyBase=True``). We go one level
down because the high-level wrappers offer neither per-request timeouts nor a way to switch off
urllib3's own ``Retry(total=3)`` (our :class:`hayswitch.RetryPolicy` is the only retry layer), and
because validating each of 262,144 floats of a 256-vector response with ``pydantic.v1`` costs
about 0.45 s of CPU per request: embedding responses are read raw and checked here instead.

The SDK is imported lazily (in :meth:`GradientProvider.setup`), never at module level.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from hayswitch.errors import (
    ConfigurationError,
    HayswitchError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ResponseError,
)
from hayswitch.finetune import AdapterInfo, FineTuneReport, FineTuneSample, FineTuning, coerce_samples
from hayswitch.http import normalise_finish_reason
from hayswitch.provider import InputType, Provider, ProviderSettings
from hayswitch.secrets import MissingSecretError
from hayswitch.types import (
    Capabilities,
    EmbeddingResult,
    GenerationOptions,
    GenerationResult,
    Message,
)
from hayswitch_gradient.errors import PROVIDER, Redactor, translate
from hayswitch_gradient.prompt import flatten_messages
from hayswitch_gradient.settings import (
    ADAPTER_ID_LENGTH,
    BGE_LARGE_DIMENSION,
    DEFAULT_EMBEDDING_MODEL,
    GradientOptions,
    GradientSettings,
)

if TYPE_CHECKING:
    from gradientai.openapi.client.api.embeddings_api import EmbeddingsApi
    from gradientai.openapi.client.api.models_api import ModelsApi
    from gradientai.openapi.client.api_client import ApiClient

__all__ = ["GradientProvider"]

T = TypeVar("T")


class _ModelEntry:
    """A model from ``GET /models`` (base model or adapter), kept small and SDK-independent."""

    __slots__ = ("base_model_id", "capabilities", "id", "kind", "name", "slug", "updated_at")

    def __init__(self, api_model: Any) -> None:
        self.kind: str = api_model.type
        self.id: str = api_model.id
        self.name: str = api_model.name
        self.slug: str | None = getattr(api_model, "slug", None)
        self.capabilities: list[str] = list(getattr(api_model, "capabilities", None) or [])
        self.base_model_id: str | None = getattr(api_model, "base_model_id", None)
        self.updated_at = getattr(api_model, "latest_update_time", None)


class GradientProvider(Provider, FineTuning):
    """hayswitch provider for the Gradient AI API (``gradientai`` SDK).

    Create it with ``hayswitch.get_provider("gradient", base_model_slug="nous-hermes2")``; the
    access token and workspace id come from ``GRADIENT_ACCESS_TOKEN`` / ``GRADIENT_WORKSPACE_ID``
    unless given, and are read here, at creation, never earlier.
    """

    name: ClassVar[str] = "gradient"
    settings_model: ClassVar[type[ProviderSettings]] = GradientSettings
    options_model: ClassVar[type[GenerationOptions]] = GradientOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        embeddings=True,
        generation=True,
        streaming=False,
        fine_tuning=True,
        max_batch_size=256,
        embedding_dimension=BGE_LARGE_DIMENSION,
        normalized_embeddings=True,
        long_text="truncate",
        max_concurrency=16,
        native_async=False,
        deterministic=True,
        # Gradient has neither tools nor JSON schemas: hayswitch.tooling emulates both.
        tools="emulated",
        structured_output="emulated",
    )
    embedding_model_setting: ClassVar[str | None] = "embedding_model"
    generation_model_setting: ClassVar[str | None] = None
    vector_settings: ClassVar[tuple[str, ...]] = ()
    repeated_tool_calls: ClassVar[Literal["answer", "allow"]] = "answer"
    settings: GradientSettings

    # ------------------------------------------------------------------ lifecycle
    def setup(self) -> None:
        """Resolve the secrets and build the SDK client (no network traffic)."""
        s = self.settings
        self._no_guidance = False
        token = s.access_token.resolve_value()
        workspace = s.workspace_id.resolve_value()
        if not token:
            raise MissingSecretError("The Gradient access token is empty: export GRADIENT_ACCESS_TOKEN.")
        if not workspace:
            raise MissingSecretError("The Gradient workspace id is empty: export GRADIENT_WORKSPACE_ID.")
        host = s.host or (os.environ.get("GRADIENT_API_URL") or "").strip().rstrip("/") or None
        if host is not None and not host.startswith(("http://", "https://")):
            raise ConfigurationError(
                "GRADIENT_API_URL must be an http(s) URL including the /api prefix, e.g. http://127.0.0.1:8080/api."
            )

        import urllib3
        from gradientai.openapi.client.api.embeddings_api import EmbeddingsApi
        from gradientai.openapi.client.api.models_api import ModelsApi
        from gradientai.openapi.client.api_client import ApiClient
        from gradientai.openapi.client.configuration import Configuration

        config = Configuration(host=host, access_token=token)
        # One retry layer only (ours): no urllib3 retries on connect/read errors; redirects still followed.
        config.retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=3)
        config.connection_pool_maxsize = max(s.max_connections, self.default_concurrency)
        self._api_client: ApiClient = ApiClient(config)
        self._models_api: ModelsApi = ModelsApi(self._api_client)
        self._embeddings_api: EmbeddingsApi = EmbeddingsApi(self._api_client)
        self._workspace: str = workspace
        self._host: str = str(config.host)
        self._redact = Redactor([token, workspace])
        self._lock = threading.Lock()
        self._base_ids: dict[str, str] = {}

    def close(self) -> None:
        """Drop pooled connections (idempotent)."""
        client = getattr(self, "_api_client", None)
        if client is not None:
            try:
                # The SDK keeps the last raw response (``last_response``) and, through it, the pooled
                # connections: drop it, or the sockets stay open until the client is collected.
                last, client.last_response = getattr(client, "last_response", None), None
                if last is not None and hasattr(last, "release_conn"):
                    last.release_conn()
                client.rest_client.pool_manager.clear()
                client.close()
            finally:
                self._api_client = None  # type: ignore[assignment]
        super().close()

    # ------------------------------------------------------------------ batching defaults
    # Measured on the Gradient emulator (80 ms per request + 0.3 ms per input, 16 requests served
    # at once; bench/gradient_bench.py, bench/README.md): full requests of 256 inputs with 16 in
    # flight reach the bare HTTP client's throughput, where batch 32 x 8 left a third of it unused.
    @property
    def default_batch_size(self) -> int:
        """256 inputs per request: the API's limit, and the fastest size measured (fewest round trips)."""
        return self.max_batch_size

    @property
    def default_concurrency(self) -> int:
        """16 requests in flight (the capability), never more than the ``max_connections`` pool."""
        return max(1, min(self.capabilities.max_concurrency, self.settings.max_connections))

    @property
    def host(self) -> str:
        """The API base URL in use (not a secret)."""
        return self._host

    @property
    def embedding_dimension(self) -> int | None:
        return BGE_LARGE_DIMENSION if self.settings.embedding_model == DEFAULT_EMBEDDING_MODEL else None

    @property
    def generation_model_id(self) -> str:
        s = self.settings
        return s.model_adapter_id or s.base_model_slug or ""

    # ------------------------------------------------------------------ plumbing
    def _client_ready(self) -> None:
        if getattr(self, "_api_client", None) is None:
            raise ConfigurationError("This gradient provider was closed; create a new one with get_provider().")

    def _call(self, what: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run one SDK call, translating any failure. For non-idempotent calls, failures that may
        have happened after the server acted are marked non-retryable."""
        self._client_ready()
        try:
            return fn()
        except HayswitchError:
            raise
        except Exception as exc:
            err = translate(exc, what=what, redact=self._redact, host=self._host)
            if not idempotent and isinstance(err, ProviderError) and err.retryable and not _never_sent(exc, err):
                raise type(err)(
                    f"{_strip_prefix(str(err))} The request may have been processed, so it is not retried "
                    "automatically; check the adapter (hayswitch finetune list/get) before repeating it.",
                    provider=PROVIDER,
                    status_code=err.status_code,
                    retryable=False,
                ) from exc
            raise err from exc

    def _retry(self, fn: Callable[[], T]) -> T:
        return self.retry_policy.call(fn)

    def _list_models(self, *, only_base: bool) -> list[_ModelEntry]:
        def call() -> list[_ModelEntry]:
            response = self._models_api.list_models(
                x_gradient_workspace_id=self._workspace,
                capability="any",
                only_base=only_base,
                _request_timeout=self.settings.timeout,
            )
            return [_ModelEntry(m.actual_instance) for m in response.models]

        return self._call("listing models", call)

    def _base_model_id(self, slug: str) -> str:
        """The id of the base model ``slug`` (cached). Unknown slug: NotFoundError listing the known
        ones (the SDK's own lookup would raise a bare StopIteration)."""
        with self._lock:
            cached = self._base_ids.get(slug)
        if cached is not None:
            return cached
        bases = [m for m in self._list_models(only_base=True) if m.kind == "baseModel"]
        with self._lock:
            self._base_ids.update({m.slug: m.id for m in bases if m.slug})
            found = self._base_ids.get(slug)
        if found is None:
            known = ", ".join(sorted(m.slug for m in bases if m.slug)) or "none"
            raise NotFoundError(
                f"No base model with slug {slug!r} in this workspace. Available: {known}. "
                "Set base_model_slug to one of them.",
                provider=PROVIDER,
                status_code=None,
            )
        return found

    # ------------------------------------------------------------------ embeddings
    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        sdk = _sdk_models()
        model = self.settings.embedding_model
        what = f"embedding {len(texts)} text{'s' if len(texts) != 1 else ''} with {model}"

        def call() -> tuple[int, bytes]:
            try:
                params = sdk.GenerateEmbeddingBodyParams(inputs=[{"input": t} for t in texts])
            except Exception as exc:
                raise translate(exc, what=what, redact=self._redact, request_side=True) from exc
            response = self._embeddings_api.generate_embedding_with_http_info(
                slug=model,
                x_gradient_workspace_id=self._workspace,
                generate_embedding_body_params=params,
                _preload_content=False,
                _request_timeout=self.settings.timeout,
            )
            return int(response.status_code or 0), bytes(response.raw_data or b"")

        status, raw = self._call(what, call)
        if status != 200:
            raise ResponseError(
                f"Gradient answered HTTP {status} without an error while {what}; the API answers 200 on success.",
                provider=PROVIDER,
            )
        return EmbeddingResult(vectors=_parse_embeddings(raw, len(texts), what), model=model)

    # ------------------------------------------------------------------ generation
    def _generation_target(self) -> tuple[str, str]:
        """``(model id, label)`` to complete with."""
        s = self.settings
        if s.model_adapter_id:
            return s.model_adapter_id, s.model_adapter_id
        if s.base_model_slug:
            return self._base_model_id(s.base_model_slug), s.base_model_slug
        raise ConfigurationError(
            "The gradient provider has no generation model. Set base_model_slug (a base model such as "
            "'nous-hermes2') or model_adapter_id (a fine-tuned adapter), e.g. "
            "HAYSWITCH_GRADIENT__BASE_MODEL_SLUG=nous-hermes2."
        )

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        sdk = _sdk_models()
        s = self.settings
        opts = options if isinstance(options, GradientOptions) else GradientOptions.model_validate(options.model_dump())
        model_id, label = self._generation_target()
        auto_template = opts.auto_template if opts.auto_template is not None else s.auto_template
        choices = opts.guidance if opts.guidance is not None else s.guidance
        query = flatten_messages(messages, auto_template=auto_template)
        max_tokens = opts.max_tokens if opts.max_tokens is not None else s.max_generated_token_count
        what = f"generating with {label}"
        try:
            # Same keyword set as gradientai's Model.complete: unset options go out as explicit nulls.
            body = sdk.CompleteModelBodyParams(
                auto_template=auto_template,
                guidance={"type": "choice", "value": list(choices)} if choices else None,
                query=query,
                max_generated_token_count=max_tokens,
                rag=None,
                temperature=opts.temperature if opts.temperature is not None else s.temperature,
                top_k=opts.top_k if opts.top_k is not None else s.top_k,
                top_p=opts.top_p if opts.top_p is not None else s.top_p,
            )
        except Exception as exc:
            raise translate(exc, what=what, redact=self._redact, request_side=True) from exc

        response = self._call(
            what,
            lambda: self._models_api.complete_model(
                id=model_id,
                x_gradient_workspace_id=self._workspace,
                complete_model_body_params=body,
                _request_timeout=s.timeout,
            ),
        )
        raw_finish = str(response.finish_reason)
        return GenerationResult(
            text=response.generated_output,
            finish_reason=normalise_finish_reason(raw_finish),
            model=label,
            meta={"model_id": model_id, "finish_reason": raw_finish, "query": query},
        )

    def _choose(self, messages: list[Message], options: GenerationOptions, choices: list[str]) -> str | None:
        """One of ``choices`` through Gradient's choice guidance (``{"type": "choice", "value": choices}``),
        or None where guidance does not apply: ``tool_choice_guidance`` off, more than 10 choices, a
        choice longer than 32 characters, or a model without guidance (remembered for this instance)."""
        if (
            not self.settings.tool_choice_guidance
            or self._no_guidance
            or not 1 <= len(choices) <= 10
            or any(not 1 <= len(c) <= 32 for c in choices)
        ):
            return None
        base = options if isinstance(options, GradientOptions) else GradientOptions()
        guided = base.model_copy(update={"guidance": list(choices), "max_tokens": 16, "tools": None})
        try:
            text = self._generate(messages, guided).text.strip()
        except (InvalidInputError, InvalidRequestError) as exc:
            if "guidance" not in str(exc).lower():
                raise
            self._no_guidance = True  # e.g. modelDoesNotSupportGuidance: emulate without it
            return None
        return text if text in choices else None

    # ------------------------------------------------------------------ fine-tuning
    def _adapter_info(self, entry: _ModelEntry, bases: Mapping[str, str] | None = None) -> AdapterInfo:
        base_id = entry.base_model_id or ""
        return AdapterInfo(
            id=entry.id,
            name=entry.name,
            base_model=(bases or {}).get(base_id, base_id),
            updated_at=entry.updated_at,
            meta={"base_model_id": base_id},
        )

    @staticmethod
    def _check_adapter_id(adapter_id: str) -> str:
        if not isinstance(adapter_id, str) or len(adapter_id) != ADAPTER_ID_LENGTH:
            raise InvalidInputError(
                f"Gradient adapter ids have {ADAPTER_ID_LENGTH} characters ('<uuid>_model_adapter'); got "
                f"{adapter_id!r}. List them with 'hayswitch finetune list --provider gradient'."
            )
        return adapter_id

    def create_adapter(
        self, *, base_model: str, name: str, rank: int | None = None, learning_rate: float | None = None
    ) -> AdapterInfo:
        """Create a LoRA adapter on a base model.

        :param base_model: a base model slug (``nous-hermes2``) or its 50-character id.
        :param name: the adapter's name.
        :param rank: LoRA rank, 1 to 32 (server default when None).
        :param learning_rate: between 0 and 1, exclusive (server default when None).
        :returns: the new adapter.
        :raises InvalidInputError: for an empty name or out-of-range hyperparameters.
        :raises NotFoundError: for an unknown base model.
        :raises InvalidRequestError: if the base model cannot be fine-tuned.
        """
        sdk = _sdk_models()

        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError("An adapter needs a non-empty name.")
        if rank is not None and not (isinstance(rank, int) and 0 < rank <= 32):
            raise InvalidInputError(f"rank must be an integer from 1 to 32, got {rank!r}.")
        if learning_rate is not None and not (isinstance(learning_rate, int | float) and 0 < learning_rate < 1):
            raise InvalidInputError(f"learning_rate must be between 0 and 1 (exclusive), got {learning_rate!r}.")
        if len(base_model) == ADAPTER_ID_LENGTH and base_model.endswith("_base_ml_model"):
            base_id = base_model
        else:
            base_id = self._retry(lambda: self._base_model_id(base_model))
        what = f"creating adapter {name!r} on {base_model}"
        body = sdk.CreateModelBodyParams(
            initial_hyperparameters=sdk.CreateModelBodyParamsInitialHyperparameters(
                lora_hyperparameters=sdk.CreateModelBodyParamsInitialHyperparametersLoraHyperparameters(rank=rank),
                training_arguments=sdk.CreateModelBodyParamsInitialHyperparametersTrainingArguments(
                    learning_rate=None if learning_rate is None else float(learning_rate)
                ),
            ),
            model=sdk.CreateModelBodyParamsModel(name=name, base_model_id=base_id),
        )
        response = self._retry(
            lambda: self._call(
                what,
                lambda: self._models_api.create_model(
                    x_gradient_workspace_id=self._workspace,
                    create_model_body_params=body,
                    _request_timeout=self.settings.timeout,
                ),
                idempotent=False,
            )
        )
        return AdapterInfo(
            id=response.id,
            name=name,
            base_model=base_model,
            meta={"base_model_id": base_id, "rank": rank, "learning_rate": learning_rate},
        )

    def fine_tune(
        self,
        adapter_id: str,
        samples: Iterable[FineTuneSample | Mapping[str, Any] | str],
        *,
        batch_size: int = 8,
        progress_bar: bool = True,
    ) -> FineTuneReport:
        """Train an adapter on samples, ``batch_size`` samples per request, with a progress bar.

        Each request trains synchronously and returns the trainable token count and the summed
        loss; the report's ``loss`` is the mean loss per trainable token over all requests.

        :param adapter_id: the adapter to train (50 characters).
        :param samples: ``FineTuneSample`` objects, ``{"inputs": ..., "multiplier": ...}`` dicts or strings.
        :param batch_size: samples per request.
        :param progress_bar: show a tqdm bar over the samples.
        :raises InvalidInputError: for bad samples or ids (before any request).
        :raises NotFoundError: for an unknown adapter.
        """
        from tqdm.auto import tqdm

        sdk = _sdk_models()

        self._check_adapter_id(adapter_id)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
        items = coerce_samples(samples)
        steps: list[dict[str, Any]] = []
        total_tokens = 0
        total_loss = 0.0
        with tqdm(
            total=len(items), desc=f"Fine-tuning {adapter_id[:8]}", unit="sample", disable=not progress_bar
        ) as bar:
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                body = sdk.FineTuneModelBodyParams(
                    samples=[
                        sdk.FineTuneModelBodyParamsSamplesInner(
                            fine_tuning_parameters=sdk.FineTuneModelBodyParamsSamplesInnerFineTuningParameters(
                                multiplier=sample.multiplier
                            ),
                            inputs=sdk.FineTuneModelBodyParamsSamplesInnerInputs(sample.inputs),
                        )
                        for sample in batch
                    ]
                )
                what = f"fine-tuning {adapter_id} on samples {start + 1}-{start + len(batch)} of {len(items)}"
                response = self._retry(
                    lambda body=body, what=what: self._call(  # type: ignore[misc]
                        what,
                        lambda: self._models_api.fine_tune_model(
                            id=adapter_id,
                            x_gradient_workspace_id=self._workspace,
                            fine_tune_model_body_params=body,
                            _request_timeout=self.settings.fine_tune_timeout,
                        ),
                        idempotent=False,
                    )
                )
                tokens = int(response.number_of_trainable_tokens)
                loss = float(response.sum_loss)
                total_tokens += tokens
                total_loss += loss
                steps.append({"samples": len(batch), "trainable_tokens": tokens, "sum_loss": loss})
                bar.update(len(batch))
                if total_tokens:
                    bar.set_postfix(loss=f"{total_loss / total_tokens:.4f}")
        return FineTuneReport(
            adapter_id=adapter_id,
            samples=len(items),
            steps=len(steps),
            trainable_tokens=total_tokens,
            loss=(total_loss / total_tokens) if total_tokens else None,
            meta={"sum_loss": total_loss, "steps": steps},
        )

    def list_adapters(self) -> list[AdapterInfo]:
        """The adapters of this workspace (with their base model's slug)."""
        models = self._retry(lambda: self._list_models(only_base=False))
        bases = {m.id: m.slug for m in models if m.kind == "baseModel" and m.slug}
        with self._lock:
            self._base_ids.update({slug: model_id for model_id, slug in bases.items()})
        return [self._adapter_info(m, bases) for m in models if m.kind == "modelAdapter"]

    def get_adapter(self, adapter_id: str) -> AdapterInfo:
        """Describe one adapter.

        :raises InvalidInputError: if the id is not 50 characters.
        :raises NotFoundError: if it does not exist in this workspace.
        """
        self._check_adapter_id(adapter_id)

        def call() -> AdapterInfo:
            response = self._models_api.get_model(
                id=adapter_id, x_gradient_workspace_id=self._workspace, _request_timeout=self.settings.timeout
            )
            with self._lock:
                slugs = {model_id: slug for slug, model_id in self._base_ids.items()}
            return self._adapter_info(_ModelEntry(response), slugs)

        return self._retry(lambda: self._call(f"describing adapter {adapter_id}", call))

    def delete_adapter(self, adapter_id: str) -> None:
        """Delete an adapter.

        :raises NotFoundError: if it does not exist in this workspace.
        """
        self._check_adapter_id(adapter_id)
        self._retry(
            lambda: self._call(
                f"deleting adapter {adapter_id}",
                lambda: self._models_api.delete_model(
                    id=adapter_id, x_gradient_workspace_id=self._workspace, _request_timeout=self.settings.timeout
                ),
                idempotent=False,
            )
        )


def _sdk_models() -> Any:
    """The SDK's generated request/response models (pydantic.v1), imported on first use."""
    from gradientai.openapi.client import models

    return models


def _strip_prefix(message: str) -> str:
    prefix = f"[{PROVIDER}] "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _never_sent(exc: BaseException, err: ProviderError) -> bool:
    """True when the request surely did not reach the server (safe to retry anything)."""
    if isinstance(err, RateLimitError):
        return True
    import urllib3.exceptions as u3

    reason = exc.reason if isinstance(exc, u3.MaxRetryError) else exc
    return isinstance(reason, u3.NewConnectionError | u3.ConnectTimeoutError)


_NUMBER_TYPES = frozenset({float, int})


def _json_loads(raw: bytes) -> Any:
    """``json.loads``, through orjson when it is installed: a 256 x 1024 embeddings response is
    ~4x faster to parse, which is most of the client's CPU time per batch."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - the stdlib parser is the fallback
        return json.loads(raw)
    return orjson.loads(raw)


def _parse_embeddings(raw: bytes, expected: int, what: str) -> list[list[float]]:
    """Vectors from a raw ``GenerateEmbeddingSuccess`` body, put in input order by ``index``.

    :raises ResponseError: for malformed JSON, a wrong shape, wrong count, bad or duplicate
        indices, or non-numeric components.
    """

    def bad(problem: str) -> ResponseError:
        message = f"Gradient sent a malformed embeddings response while {what}: {problem}."
        return ResponseError(message, provider=PROVIDER)

    try:
        data = _json_loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad("the body is not valid JSON") from None
    items = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise bad("no 'embeddings' list")
    if len(items) != expected:
        raise bad(f"{len(items)} vectors for {expected} inputs")
    vectors: list[list[float] | None] = [None] * expected
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("embedding"), list):
            raise bad(f"item {position} has no 'embedding' list")
        index = item.get("index", position)
        if type(index) is not int or not 0 <= index < expected or vectors[index] is not None:
            raise bad(f"item {position} has an invalid or duplicate index {index!r}")
        vector = item["embedding"]
        if not set(map(type, vector)) <= _NUMBER_TYPES:  # C-speed type screen (vectors are large)
            raise bad(f"vector {index} holds non-numeric values")
        vectors[index] = vector
    return vectors  # type: ignore[return-value]
