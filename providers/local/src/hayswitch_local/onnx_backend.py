"""ONNX Runtime backend for the local provider's sentence-transformers embeddings.

The packaged PyTorch model is exported to ONNX at first use (``torch.onnx.export``, the whole
sentence-transformers module stack: transformer, pooling, dense and normalise layers, so the
graph computes exactly what ``SentenceTransformer.encode`` computes), checked against PyTorch on
a fixed probe set, and cached on disk. Later processes load the cached file directly with
``onnxruntime`` (no torch, no weights loading), tokenise with the model's own fast tokenizer
(``transformers``) with the same truncation, lower-casing and length sorting as
sentence-transformers, and read the pooled vectors out of the graph.

The export uses the model's eager attention and then ONNX Runtime's transformer optimizer, which
fuses each layer's attention, GELU and skip+LayerNorm into single kernels (BERT-style models; a
graph the optimizer cannot improve is kept as exported, and the fused graph is checked against
PyTorch like the plain one). At run time each text is one call (no padding, and a text's vector
never depends on the other texts of the call), on single-threaded calls spread over
``threads`` worker threads: for small encoders on a CPU this beats batched, padded calls on a
shared intra-op thread pool (bench/README.md, issue 18).

``onnx-int8`` additionally quantizes the weights of the exported graph to int8
(``onnxruntime.quantization.quantize_dynamic``). Quantization can move vectors, so it is only
used after a quality check: the mean cosine to the fp32 vectors on the probe set must be at least
:data:`INT8_MIN_MEAN_COSINE`; otherwise the int8 file is refused (the verdict is cached with the
file) and the fp32 ONNX graph serves instead, with a warning.

Where files go: ``$HAYSWITCH_CACHE_DIR/onnx`` if set, else the user cache directory
(``platformdirs.user_cache_dir("hayswitch")``, e.g. ``~/.cache/hayswitch/onnx`` on Linux), one
folder per model and toolchain: the key covers the model directory's configuration files and
weight files (size and modification time) and the versions of torch, transformers,
sentence-transformers, onnx and onnxruntime, so an upgrade exports again. Everything is offline:
nothing is downloaded. Writes are atomic (temporary file, then rename) under a file lock, so
concurrent processes export once.

Nothing here is imported until the local provider first embeds with an ONNX backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hayswitch.errors import ConfigurationError

__all__ = [
    "EXPORT_FORMAT",
    "INT8_MIN_MEAN_COSINE",
    "PROBE_TEXTS",
    "OnnxEmbedder",
    "OnnxVariant",
    "available_cpus",
    "cache_root",
    "load_onnx_embedder",
    "onnx_available",
]

logger = logging.getLogger("hayswitch_local.onnx")

OnnxVariant = Literal["fp32", "int8"]

EXPORT_FORMAT = 2
"""Bumped when the exported graph or its sidecar changes (part of the cache key). 2: eager
attention, fused by ONNX Runtime's transformer optimizer."""
OPSET = 17
INT8_RECIPE = 3
"""Version of the quantization recipe (part of the int8 file names): MatMul weights only (of the
fused graph), per output channel, unsigned 8-bit, except the feed-forward down-projections (the
MatMuls fed by a GELU, whose activations have the outliers that int8 clips: quantizing them too
cost all-MiniLM-L6-v2 one of the retrieval fixture's 18 top-3 hits, mean cosine 0.9937 instead of
0.998). Quantizing every op per tensor (the library's default) moved
all-MiniLM-L6-v2's vectors to a mean cosine of 0.956 on the probe set; this recipe keeps 0.99+."""
INT8_MIN_MEAN_COSINE = 0.99
"""Least mean cosine (int8 vs fp32 vectors, probe set) for the int8 graph to be used."""
FP32_MIN_COSINE = 0.9999
"""Least cosine (ONNX fp32 vs PyTorch, every probe text) for an export to be accepted."""

PROBE_TEXTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password if I no longer have access to my e-mail account?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The central bank raised interest rates by a quarter of a percentage point to curb inflation.",
    "Install the package with pip, then run the command line tool with --help to list its options.",
    "A stitch in time saves nine.",
    "Mount Everest is the highest mountain above sea level, on the border between Nepal and China.",
    "The patient was prescribed antibiotics for a bacterial infection of the upper respiratory tract.",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "Der Zug nach Berlin hat heute zwanzig Minuten Verspätung.",
    "La réunion est reportée à jeudi prochain à dix heures.",
    "Quarterly revenue grew 12% year over year, driven by subscriptions in Europe and Asia.",
    "To bake bread you need flour, water, salt and yeast, and a hot oven.",
    "The Treaty of Westphalia in 1648 ended the Thirty Years' War in the Holy Roman Empire.",
    "Vector databases index embeddings for approximate nearest neighbour search.",
    "ok",
    "Rain is expected in the afternoon with temperatures around fourteen degrees.",
    "The court ruled that the contract was void because one party had been misled about its terms.",
    "Neural networks are trained by gradient descent on a loss function computed over mini-batches "
    "of examples, with the gradients obtained by backpropagation through every layer of the model.",
    "Our customer service team is available Monday to Friday from 9 am to 5 pm.",
    "Jupiter has at least ninety-five moons, the four largest discovered by Galileo in 1610.",
    "Please find attached the invoice for the services rendered in March.",
    "The recipe calls for two cups of sugar, but I used honey instead and it turned out fine.",
    "Electric vehicles convert stored battery energy into motion with far fewer moving parts than "
    "internal combustion engines, which lowers maintenance costs over the life of the car.",
)
"""Fixed, varied probe sentences (short and long, several languages, code) for the export and
quantization checks."""

_CONFIG_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_available() -> bool:
    """Whether onnxruntime and onnx are importable (without importing them)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def cache_root() -> Path:
    """Where exported graphs are cached: ``$HAYSWITCH_CACHE_DIR/onnx`` or the user cache dir."""
    override = os.environ.get("HAYSWITCH_CACHE_DIR", "").strip()
    if override:
        return Path(override).expanduser() / "onnx"
    import platformdirs

    return Path(platformdirs.user_cache_dir("hayswitch", appauthor=False)) / "onnx"


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "absent"


def _model_key(model_dir: Path) -> str:
    """A digest of what determines the exported graph: the model's files and the toolchain."""
    h = hashlib.sha256()
    h.update(f"format={EXPORT_FORMAT};opset={OPSET};dir={model_dir.resolve()}\n".encode())
    for package in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime"):
        h.update(f"{package}={_version(package)}\n".encode())
    for path in sorted(model_dir.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(model_dir).as_posix()
        if path.name in _CONFIG_FILES or path.suffix == ".json":
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\n")
        elif path.name in _WEIGHT_FILES or path.suffix in (".safetensors", ".bin"):
            stat = path.stat()
            h.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


# --------------------------------------------------------------------------- the runtime side


@dataclass
class _Tokenization:
    max_seq_length: int
    do_lower_case: bool
    input_names: list[str]
    dimension: int


class OnnxEmbedder:
    """A sentence-transformers model running on ONNX Runtime (what :func:`load_onnx_embedder` returns).

    :ivar variant: ``"fp32"`` or ``"int8"`` (the graph actually in use).
    :ivar path: the ``.onnx`` file.
    :ivar quality: the probe-set check results recorded with the file.
    """

    def __init__(self, model_dir: Path, onnx_path: Path, variant: OnnxVariant, meta: dict[str, Any]) -> None:
        from transformers import AutoTokenizer

        self.path = onnx_path
        self.variant: OnnxVariant = variant
        self.quality: dict[str, Any] = dict(meta.get("quality", {}))
        self._tok = _Tokenization(
            max_seq_length=int(meta["max_seq_length"]),
            do_lower_case=bool(meta["do_lower_case"]),
            input_names=list(meta["input_names"]),
            dimension=int(meta["dimension"]),
        )
        self._session = _session(onnx_path)
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self._meta = {
            "max_seq_length": self._tok.max_seq_length,
            "do_lower_case": self._tok.do_lower_case,
            "input_names": self._tok.input_names,
            "dimension": self._tok.dimension,
        }

    @property
    def dimension(self) -> int:
        return self._tok.dimension

    def encode(self, texts: list[str], *, threads: int = 1) -> Any:
        """L2-normalised float32 vectors of ``texts`` (a 2-D numpy array, input order).

        Like ``SentenceTransformer.encode``: texts are stripped (and lower-cased if the model says
        so) and truncated at the model's ``max_seq_length``. Each text is its own call, so nothing
        is padded and a vector never depends on the other texts; ``threads`` calls run at once.
        """
        return _embed_each(self._session, self._tokenizer, self._meta, texts, threads=threads)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _session(path: Path) -> Any:
    """A single-threaded session (parallelism comes from concurrent calls, see :func:`_embed_each`)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _embed_each(session: Any, tokenizer: Any, meta: dict[str, Any], texts: list[str], *, threads: int = 1) -> Any:
    """Run ``session`` on each text alone (``threads`` at a time) and L2-normalise the vectors."""
    import numpy as np

    if not texts:
        return np.empty((0, int(meta.get("dimension", 0))), dtype=np.float32)
    batch = [t.strip().lower() if meta["do_lower_case"] else t.strip() for t in texts]
    enc = tokenizer(batch, truncation="longest_first", max_length=meta["max_seq_length"])
    names = meta["input_names"]

    def one(i: int) -> Any:
        feeds = {name: np.asarray([enc[name][i]], dtype=np.int64) for name in names}
        (vector,) = session.run(["sentence_embedding"], feeds)
        return vector[0]

    if threads <= 1 or len(batch) == 1:
        rows = [one(i) for i in range(len(batch))]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, len(batch)), thread_name_prefix="hayswitch-onnx") as pool:
            rows = list(pool.map(one, range(len(batch))))
    vectors = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, np.maximum(norms, 1e-12), out=vectors)
    return vectors


# --------------------------------------------------------------------------- the export side


def _sentence_bert_config(model_dir: Path, st_model: Any) -> tuple[int, bool]:
    max_len = getattr(st_model, "max_seq_length", None)
    lower = False
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        lower = bool(data.get("do_lower_case", False))
        max_len = max_len or data.get("max_seq_length")
    if not max_len:
        max_len = int(getattr(st_model.tokenizer, "model_max_length", 512))
    return int(max_len), lower


def _export_fp32(model_dir: Path, target: Path) -> dict[str, Any]:
    """Export the sentence-transformers model in ``model_dir`` to ``target``; check it against
    PyTorch on the probe set; return the sidecar metadata."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the middle of a first embedding
    try:
        try:
            # Eager attention exports as plain MatMul/Softmax, which ONNX Runtime's optimizer fuses
            # into one Attention kernel per layer; the SDPA export (the default) is not fused.
            st = SentenceTransformer(
                str(model_dir), device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
            )
        except (TypeError, ValueError):  # an architecture without an eager implementation
            st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    st.eval()
    max_len, lower = _sentence_bert_config(model_dir, st)
    tokenizer = st.tokenizer
    input_names = [n for n in _INPUTS if n in getattr(tokenizer, "model_input_names", _INPUTS)]
    if "input_ids" not in input_names or "attention_mask" not in input_names:
        raise ConfigurationError(
            f"{model_dir}: the tokenizer gives {input_names}; ONNX export needs input ids and mask"
        )

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            features = dict(zip(input_names, tensors, strict=True))
            return self.model(features)["sentence_embedding"]

    sample = tokenizer(list(PROBE_TEXTS[:2]), padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    args = tuple(sample[name] for name in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes["sentence_embedding"] = {0: "batch"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; the result is checked below
        torch.onnx.export(
            SentenceEmbedding(st),
            args,
            str(target),
            input_names=input_names,
            output_names=["sentence_embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    reference = st.encode(
        list(PROBE_TEXTS), batch_size=8, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    meta = {
        "format": EXPORT_FORMAT,
        "model_dir": str(model_dir),
        "max_seq_length": max_len,
        "do_lower_case": lower,
        "input_names": input_names,
        "dimension": int(reference.shape[1]),
    }
    cosines = _cosines(_embed_each(_session(target), tokenizer, meta, list(PROBE_TEXTS)), reference)
    if float(cosines.min()) < FP32_MIN_COSINE:
        raise ConfigurationError(
            f"The ONNX export of {model_dir} does not reproduce the PyTorch vectors (lowest cosine "
            f"{float(cosines.min()):.5f} < {FP32_MIN_COSINE}); use embedding_backend='torch' for this model."
        )
    meta["quality"] = {"fp32_vs_torch_min_cosine": round(float(cosines.min()), 6)}
    meta["fused"] = _fuse(target, st, tokenizer, meta, reference)
    return meta


def _cosines(got: Any, reference: Any) -> Any:
    import numpy as np

    return np.sum(np.asarray(got, dtype=np.float64) * np.asarray(reference, dtype=np.float64), axis=1)


def _fuse(target: Path, st: Any, tokenizer: Any, meta: dict[str, Any], reference: Any) -> dict[str, int]:
    """Replace ``target`` with ONNX Runtime's fused version of it (attention, GELU, skip+LayerNorm
    as single kernels) when the optimizer fuses something and the fused graph still reproduces the
    PyTorch vectors; return the fused operator counts (empty when the plain graph is kept)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model  # type: ignore[import-untyped]

        config = getattr(getattr(st[0], "auto_model", None), "config", None)
        heads = int(getattr(config, "num_attention_heads", 0) or 0)
        hidden = int(getattr(config, "hidden_size", 0) or 0)
        chatty = logging.getLogger("onnxruntime")  # the optimizer reports every fusion at INFO/WARNING
        level = chatty.level
        chatty.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = optimize_model(str(target), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
        finally:
            chatty.setLevel(level)
        stats = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
        if not stats:
            return {}
        fused = target.with_name(target.name + ".fused")
        model.save_model_to_file(str(fused), use_external_data_format=False)
        try:
            cosines = _cosines(_embed_each(_session(fused), tokenizer, meta, list(PROBE_TEXTS)), reference)
            if float(cosines.min()) < FP32_MIN_COSINE:
                logger.info(
                    "the fused ONNX graph moved vectors (lowest cosine %.5f); keeping the plain export",
                    float(cosines.min()),
                )
                return {}
            os.replace(fused, target)
        finally:
            fused.unlink(missing_ok=True)
        meta["quality"]["fused_vs_torch_min_cosine"] = round(float(cosines.min()), 6)
        return stats
    except Exception as exc:  # noqa: BLE001 - fusing is an optimization: the plain export still serves
        logger.info("ONNX Runtime's optimizer could not fuse %s (%s); keeping the plain export", target, exc)
        return {}


def _quantize_int8(model_dir: Path, fp32: Path, target: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Quantize ``fp32`` to ``target`` and measure it on the probe set (the verdict is returned,
    not raised: a refused int8 graph is remembered so it is not rebuilt on every start)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]
    from transformers import AutoTokenizer

    root = logging.getLogger()
    quiet = _DropQuantizerChatter()
    root.addFilter(quiet)  # the quantizer logs advice and per-tensor notes on the root logger
    try:
        quantize_dynamic(
            str(fp32),
            str(target),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QUInt8,
            # the fused graph's contrib ops have no inferred types; their outputs are float
            extra_options={"DefaultTensorType": 1},
            nodes_to_exclude=_gelu_fed_matmuls(fp32),
        )
    finally:
        root.removeFilter(quiet)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    reference = _embed_each(_session(fp32), tokenizer, meta, list(PROBE_TEXTS))
    cosines = _cosines(_embed_each(_session(target), tokenizer, meta, list(PROBE_TEXTS)), reference)
    mean = float(cosines.mean())
    return {
        **meta,
        "quality": {
            **meta.get("quality", {}),
            "int8_vs_fp32_mean_cosine": round(mean, 6),
            "int8_vs_fp32_min_cosine": round(float(cosines.min()), 6),
            "int8_accepted": mean >= INT8_MIN_MEAN_COSINE,
            "int8_recipe": INT8_RECIPE,
        },
    }


_GELU_OPS = frozenset({"Gelu", "BiasGelu", "FastGelu", "QuickGelu"})


def _gelu_fed_matmuls(path: Path) -> list[str]:
    """Names of the MatMul nodes whose input is a GELU's output (the feed-forward down-projections)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    gelu_outputs = {out for node in graph.node if node.op_type in _GELU_OPS for out in node.output}
    return [node.name for node in graph.node if node.op_type == "MatMul" and node.input[0] in gelu_outputs]


class _DropQuantizerChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime/quantization" not in record.pathname.replace("\\", "/")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT else None


def _ensure_files(
    model_dir: Path, variant: OnnxVariant, *, explicit: bool = True
) -> tuple[Path, OnnxVariant, dict[str, Any]]:
    """The cached graph for ``variant`` (exporting/quantizing it first if needed) and its sidecar."""
    from filelock import FileLock

    folder = cache_root() / _model_key(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fp32, fp32_meta = folder / "model.onnx", folder / "model.json"
    int8, int8_meta = folder / f"model.int8-r{INT8_RECIPE}.onnx", folder / f"model.int8-r{INT8_RECIPE}.json"
    with FileLock(str(folder / ".lock"), timeout=600):
        meta = _read_json(fp32_meta) if fp32.is_file() else None
        if meta is None:
            logger.info("exporting %s to ONNX (first use; cached in %s)", model_dir, folder)
            fd, tmp_name = tempfile.mkstemp(dir=folder, prefix="model.", suffix=".onnx.tmp")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                meta = _export_fp32(model_dir, tmp)
                os.replace(tmp, fp32)
            finally:
                tmp.unlink(missing_ok=True)
            _write_json(fp32_meta, meta)
        if variant == "fp32":
            return fp32, "fp32", meta
        qmeta = _read_json(int8_meta)
        if qmeta is None:
            logger.info("quantizing the ONNX graph of %s to int8 (first use)", model_dir)
            fd, tmp_name = tempfile.mkstemp(dir=folder, prefix="model.int8.", suffix=".onnx.tmp")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                qmeta = _quantize_int8(model_dir, fp32, tmp, meta)
                if qmeta["quality"]["int8_accepted"]:
                    os.replace(tmp, int8)
            finally:
                tmp.unlink(missing_ok=True)
            _write_json(int8_meta, qmeta)
        if qmeta["quality"].get("int8_accepted") and int8.is_file():
            return int8, "int8", qmeta
        logger.log(
            logging.WARNING if explicit else logging.INFO,
            "int8 quantization of %s was refused (mean cosine to fp32 %.4f < %.2f on the probe set); using the "
            "fp32 ONNX graph instead",
            model_dir,
            qmeta["quality"].get("int8_vs_fp32_mean_cosine", float("nan")),
            INT8_MIN_MEAN_COSINE,
        )
        return fp32, "fp32", {**meta, "quality": qmeta["quality"]}


def load_onnx_embedder(model_dir: Path, variant: OnnxVariant = "fp32", *, explicit: bool = True) -> OnnxEmbedder:
    """The ONNX Runtime embedder for the sentence-transformers model in ``model_dir``.

    A refused int8 graph falls back to fp32 with a warning when int8 was asked for (``explicit``),
    and with an info message when it was only the default's first choice.

    :raises ConfigurationError: if onnxruntime/onnx are missing, or the model cannot be exported
        or does not reproduce its PyTorch vectors.
    """
    if not onnx_available():
        raise ConfigurationError(
            "The local provider's ONNX backend needs 'onnxruntime' and 'onnx' (pip install hayswitch-local "
            "brings them); or set embedding_backend='torch'."
        )
    try:
        path, used, meta = _ensure_files(model_dir, variant, explicit=explicit)
        return OnnxEmbedder(model_dir, path, used, meta)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"Cannot run {model_dir} on ONNX Runtime: {type(exc).__name__}: {exc}. Set the local provider's "
            "embedding_backend to 'torch' to use PyTorch."
        ) from exc
