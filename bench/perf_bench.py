"""Benchmarks for issue 18 (not a test): the local embedder's backends and the cache's read path.

Two parts, each measured side by side in one run (the machine is shared: read the ratios, which
come from runs interleaved in the same minute, not the absolute times):

``local``
    N passages of 40-120 words (``bench/local_bench.py``'s corpus) embedded by raw
    sentence-transformers on PyTorch fp32 (``SentenceTransformer.encode``, batch 32, normalised)
    and by the ``local`` provider on each backend (``torch``, ``onnx``, ``onnx-int8``), in
    interleaved rounds; best round per contender. Every backend's vectors are compared with the
    raw PyTorch vectors (mean and minimum cosine).

``cache``
    Re-indexing 10,000 documents whose 1024-d vectors are all in the embedding cache, through
    ``ProviderDocumentEmbedder(cache=...)`` (zero provider requests), with this checkout's code and
    with another checkout's (``--baseline-src``, e.g. ``main`` before this change), each in a fresh
    process reading the same cache file; interleaved rounds, best per contender.

Run from the repository root::

    .venv/bin/python bench/perf_bench.py local --passages 400 --rounds 3
    git worktree add /tmp/hs-main main
    .venv/bin/python bench/perf_bench.py cache --baseline-src /tmp/hs-main --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SRC_DIRS = ("core/src", "providers/gradient/src", "providers/local/src", "providers/openai/src")


# --------------------------------------------------------------------------- local embeddings


def bench_local(
    passages_n: int, rounds: int, batch_size: int, backends: list[str], threads: int | None = None
) -> dict[str, Any]:
    import numpy as np

    sys.path.insert(0, str(ROOT / "bench"))
    from local_bench import build_passages

    from hayswitch import get_provider

    passages = build_passages(passages_n)
    if threads is not None:  # the same number of cores for every contender
        import torch

        torch.set_num_threads(threads)
    extra = {"embedding_threads": threads} if threads is not None else {}
    providers = {
        b: get_provider("local", embedding_backend=b, embedding_batch_size=batch_size, **extra) for b in backends
    }
    raw_model = providers.get("torch", get_provider("local", embedding_backend="torch")).embedder().model  # type: ignore[attr-defined]

    def raw() -> Any:
        return raw_model.encode(
            passages, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def via(backend: str) -> Any:
        return np.asarray(providers[backend].embed_documents(passages).vectors, dtype=np.float32)

    # Warm-up: load weights, export/quantize ONNX graphs on first use (not timed), first-call allocations.
    raw_model.encode(passages[:32], batch_size=batch_size, show_progress_bar=False)
    for b in backends:
        providers[b].embed_documents(passages[:32])
    contenders: dict[str, Any] = {"raw sentence-transformers (PyTorch fp32)": raw}
    contenders.update({f"hayswitch local, embedding_backend={b!r}": (lambda b=b: via(b)) for b in backends})  # type: ignore[misc]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    vectors: dict[str, Any] = {}
    for r in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            vectors[name] = fn()
            times[name].append(time.perf_counter() - start)
            print(f"[{r + 1}/{rounds}] {name}: {times[name][-1]:.2f}s", flush=True)
    reference = vectors["raw sentence-transformers (PyTorch fp32)"]
    raw_best = min(times["raw sentence-transformers (PyTorch fp32)"])
    rows = []
    for name in contenders:
        cos = np.sum(vectors[name] * reference, axis=1) / (
            np.linalg.norm(vectors[name], axis=1) * np.linalg.norm(reference, axis=1)
        )
        best = min(times[name])
        rows.append(
            {
                "contender": name,
                "best_seconds": round(best, 2),
                "all_seconds": [round(t, 2) for t in times[name]],
                "docs_per_second": round(passages_n / best, 1),
                "vs_raw_pytorch": round(raw_best / best, 2),
                "mean_cosine_to_pytorch": round(float(cos.mean()), 5),
                "min_cosine_to_pytorch": round(float(cos.min()), 5),
            }
        )
    onnx_info = {}
    for b in backends:
        if b != "torch":
            engine, loaded = providers[b].embedding_engine()  # type: ignore[attr-defined]
            onnx_info[b] = {"engine": engine, "quality": loaded.model.quality}
    return {
        "passages": passages_n,
        "words_per_passage": "40-120",
        "batch_size": batch_size,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "threads": threads or "default (all CPUs)",
        "load_average_at_end": list(os.getloadavg()),
        "rows": rows,
        "onnx": onnx_info,
    }


def print_local(result: dict[str, Any]) -> None:
    print()
    print(
        f"{result['passages']} passages ({result['words_per_passage']} words), batch {result['batch_size']}, "
        f"best of {result['rounds']} interleaved rounds, {result['cpus']} CPUs"
    )
    print()
    print("| contender | best (s) | docs/s | vs raw PyTorch | mean cosine | min cosine |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in result["rows"]:
        print(
            f"| {r['contender']} | {r['best_seconds']:.2f} | {r['docs_per_second']:.1f} | {r['vs_raw_pytorch']:.2f}x | "
            f"{r['mean_cosine_to_pytorch']:.5f} | {r['min_cosine_to_pytorch']:.5f} |"
        )
    print(json.dumps(result["onnx"], indent=2))


# --------------------------------------------------------------------------- cache re-index


def make_texts(n: int) -> list[str]:
    rng = random.Random(11)
    words = [f"w{i}" for i in range(5000)]
    return [f"Document {i}: " + " ".join(rng.choices(words, k=rng.randint(20, 60))) for i in range(n)]


def populate(path: Path, texts: list[str], dimension: int) -> None:
    import numpy as np

    from hayswitch import get_provider
    from hayswitch.cache import CacheNamespace, EmbeddingCache

    provider = get_provider("fake", dimension=dimension)
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((len(texts), dimension)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    with EmbeddingCache(path) as cache:
        namespace = CacheNamespace.for_provider(provider, "document")
        for start in range(0, len(texts), 1000):
            cache.put_many(namespace, texts[start : start + 1000], matrix[start : start + 1000].tolist())


def floor_worker(n: int, dimension: int) -> dict[str, Any]:
    """The least a re-index can cost under Haystack's ``Document.embedding: list[float]`` contract:
    turning an already-decoded float32 matrix into ``n`` Python lists of floats (GC paused, as the
    embedder does), with no cache, no Documents and no component."""
    import gc

    import numpy as np

    matrix = np.random.default_rng(0).standard_normal((n, dimension)).astype(np.float32)
    gc.disable()
    start = time.perf_counter()
    lists = matrix.tolist()
    seconds = time.perf_counter() - start
    gc.enable()
    assert len(lists) == n
    return {"seconds": seconds}


def reindex_worker(cache_path: Path, n: int, dimension: int, batch_size: int, concurrency: int) -> dict[str, Any]:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    texts = make_texts(n)
    docs = [Document(content=t) for t in texts]
    embedder = ProviderDocumentEmbedder(
        provider="fake",
        settings={"dimension": dimension},
        cache=str(cache_path),
        batch_size=batch_size,
        max_concurrency=concurrency,
        progress_bar=False,
    )
    embedder.warm_up()
    start = time.perf_counter()
    out = embedder.run(docs)
    seconds = time.perf_counter() - start
    meta = out["meta"]
    provider = embedder.provider_instance
    requests = getattr(provider, "requests", None)
    if meta["cache"]["hits"] != n or requests:
        raise SystemExit(f"expected {n} cache hits and no request, got {meta['cache']} and {requests} requests")
    if any(len(d.embedding or []) != dimension for d in out["documents"]):
        raise SystemExit("a document came back without its cached vector")
    return {"seconds": seconds}


def bench_cache(args: argparse.Namespace) -> dict[str, Any]:
    texts = make_texts(args.docs)
    contenders: dict[str, Path | None] = {"this checkout": ROOT}
    if args.baseline_src is not None:
        contenders[f"baseline ({args.baseline_src})"] = args.baseline_src
    contenders["floor: the Python float lists alone (no cache, no Documents)"] = None
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.sqlite"
        populate(path, texts, args.dimension)
        for r in range(args.rounds):
            for name, root in contenders.items():
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(Path(root or ROOT) / d) for d in SRC_DIRS)}
                sizes = [str(args.docs), str(args.dimension)]
                worker = (
                    ["reindex-worker", str(path), *sizes, str(args.batch_size), str(args.concurrency)]
                    if root is not None
                    else ["floor-worker", *sizes]
                )
                proc = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), *worker],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
                seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
                times[name].append(seconds)
                print(f"[{r + 1}/{args.rounds}] {name}: {seconds:.3f}s", flush=True)
    mine = min(times["this checkout"])
    rows = []
    for name in contenders:
        best = min(times[name])
        rows.append(
            {
                "contender": name,
                "best_seconds": round(best, 3),
                "all_seconds": [round(t, 3) for t in times[name]],
                "docs_per_second": round(args.docs / best),
                "this_checkout_speedup": round(best / mine, 2),
            }
        )
    return {
        "docs": args.docs,
        "dimension": args.dimension,
        "batch_size": args.batch_size,
        "max_concurrency": args.concurrency,
        "rounds": args.rounds,
        "rows": rows,
    }


def print_cache(result: dict[str, Any]) -> None:
    print()
    print(
        f"re-index {result['docs']:,} cached {result['dimension']}-d vectors (batch {result['batch_size']}, "
        f"{result['max_concurrency']} concurrent), best of {result['rounds']} interleaved rounds"
    )
    print()
    print("| code | best (s) | docs/s | this checkout is faster by |")
    print("|---|---:|---:|---:|")
    for r in result["rows"]:
        speedup = r["this_checkout_speedup"]
        print(f"| {r['contender']} | {r['best_seconds']:.3f} | {r['docs_per_second']:,} | {speedup:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    local = sub.add_parser("local", help="local embedder backends vs raw sentence-transformers")
    local.add_argument("--passages", type=int, default=400)
    local.add_argument("--rounds", type=int, default=3)
    local.add_argument("--batch-size", type=int, default=32)
    local.add_argument("--backends", nargs="*", default=["torch", "onnx", "onnx-int8"])
    local.add_argument("--threads", type=int, default=None, help="threads for every contender (default: all)")
    local.add_argument("--json", type=Path, default=None)
    cache = sub.add_parser("cache", help="re-indexing from a full embedding cache")
    cache.add_argument("--docs", type=int, default=10_000)
    cache.add_argument("--dimension", type=int, default=1024)
    cache.add_argument("--batch-size", type=int, default=256)
    cache.add_argument("--concurrency", type=int, default=16)
    cache.add_argument("--rounds", type=int, default=5)
    cache.add_argument("--baseline-src", type=Path, default=None, help="another checkout to compare with")
    cache.add_argument("--json", type=Path, default=None)
    worker = sub.add_parser("reindex-worker", help=argparse.SUPPRESS)
    worker.add_argument("path", type=Path)
    worker.add_argument("docs", type=int)
    worker.add_argument("dimension", type=int)
    worker.add_argument("batch_size", type=int)
    worker.add_argument("concurrency", type=int)
    floor = sub.add_parser("floor-worker", help=argparse.SUPPRESS)
    floor.add_argument("docs", type=int)
    floor.add_argument("dimension", type=int)
    args = parser.parse_args(argv)
    if args.part == "floor-worker":
        print(json.dumps(floor_worker(args.docs, args.dimension)))
        return 0
    if args.part == "reindex-worker":
        print(json.dumps(reindex_worker(args.path, args.docs, args.dimension, args.batch_size, args.concurrency)))
        return 0
    if args.part == "local":
        result = bench_local(args.passages, args.rounds, args.batch_size, args.backends, args.threads)
        print_local(result)
    else:
        result = bench_cache(args)
        print_cache(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
