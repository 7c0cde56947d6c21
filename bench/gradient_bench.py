"""Benchmark: embed 10,000 documents through the Gradient API emulator, three ways, in one run.

1. **gradient-haystack 0.4.0** ``GradientDocumentEmbedder`` (the peer), installed from PyPI into a
   separate virtualenv (``bench/.venv-peer``, created on first use) and run there in a child process.
2. **The raw SDK**: ``gradientai`` 1.13.1 ``EmbeddingsModel.embed`` (which splits into requests of
   256 and runs up to 8 of them on threads).
3. **A bare client**: ``urllib3`` + ``json``, 256 inputs per request on 16 threads, vectors read
   from the parsed JSON in order: the yardstick of what a hand-written client gets.
4. **hayswitch**: ``ProviderDocumentEmbedder(provider="gradient")``, with its defaults (the
   provider's declared batch size and concurrency), tuned by hand (``batch_size=256``,
   ``max_concurrency=16``), and with the old generic defaults (``batch_size=32``,
   ``max_concurrency=8``) for comparison.

The emulator runs in its own process with realistic service times (default 80 ms per request plus
0.3 ms per input, at most 16 requests served at once; more wait in a queue). Every contender's
vectors are checked against the emulator's deterministic vector of each document's own text.

Run from the repository root (not a test; timings depend on the machine)::

    .venv/bin/python bench/gradient_bench.py             # 10,000 documents
    .venv/bin/python bench/gradient_bench.py --docs 2000 --skip-peer
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from gradient_emulator import EmulatorProcess, build_config, embedding

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / "bench" / ".venv-peer"
PEER_REQUIREMENT = "gradient-haystack==0.4.0"
TOKEN = "bench-fake-token"
WORKSPACE = "bench-fake_workspace"

PEER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from haystack import Document
    from haystack_integrations.components.embedders.gradient import GradientDocumentEmbedder

    texts = json.load(open(sys.argv[-2], encoding="utf-8"))
    docs = [Document(content=t) for t in texts]
    embedder = GradientDocumentEmbedder()  # gradient-haystack 0.4.0 defaults (batch 32,768, progress bar)
    embedder.warm_up()
    started = time.perf_counter()
    out = embedder.run(docs)["documents"]
    elapsed = time.perf_counter() - started
    np.save(sys.argv[-1], np.array([d.embedding for d in out], dtype=np.float64))
    print(json.dumps({"seconds": elapsed}))
    """
)


def make_texts(n: int, seed: int = 7) -> list[str]:
    """Distinct, deterministic documents of 20-60 words."""
    rng = random.Random(seed)
    vocabulary = [f"{stem}{i}" for stem in ("data", "model", "vector", "query", "graph", "token") for i in range(300)]
    return [f"Document {i}: " + " ".join(rng.choices(vocabulary, k=rng.randint(20, 60))) for i in range(n)]


def ensure_peer_venv(path: Path) -> Path:
    """The peer's virtualenv with gradient-haystack 0.4.0 (created and installed on first use)."""
    python = path / "bin" / "python"
    if not python.exists():
        print(f"creating {path} and installing {PEER_REQUIREMENT} from PyPI ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", PEER_REQUIREMENT],
            check=True,
            env=env,
        )
    return python


def check_vectors(name: str, texts: list[str], vectors: Any) -> None:
    """Every document must carry the vector of its own text (the emulator's deterministic one)."""
    got = np.asarray(vectors, dtype=np.float64)
    if got.shape != (len(texts), 1024):
        raise SystemExit(f"{name}: expected {len(texts)} vectors of 1024, got shape {got.shape}")
    expected = np.array([embedding(t) for t in texts], dtype=np.float64)
    wrong = np.flatnonzero(np.abs(got - expected).max(axis=1) > 1e-9)
    if wrong.size:
        raise SystemExit(f"{name}: {wrong.size} documents got a vector that is not their own text's (first {wrong[0]})")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run_sdk(texts: list[str], api_url: str) -> tuple[float, Any]:
    from gradientai import Gradient

    client = Gradient(access_token=TOKEN, workspace_id=WORKSPACE, host=api_url)
    model = client.get_embeddings_model(slug="bge-large")
    seconds, response = timed(lambda: model.embed(inputs=[{"input": t} for t in texts]))
    client.close()
    return seconds, [e.embedding for e in response.embeddings]


def run_hayswitch(texts: list[str], **options: Any) -> tuple[float, Any]:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    embedder = ProviderDocumentEmbedder(provider="gradient", progress_bar=False, **options)
    embedder.warm_up()
    docs = [Document(content=t) for t in texts]
    seconds, out = timed(lambda: embedder.run(docs)["documents"])
    embedder.close()
    return seconds, [d.embedding for d in out]


def run_bare(texts: list[str], api_url: str, batch: int = 256, threads: int = 16) -> tuple[float, Any]:
    """urllib3 + json: POST batches of ``batch`` on ``threads`` threads, parse, order by index."""
    from concurrent.futures import ThreadPoolExecutor

    import urllib3

    pool = urllib3.PoolManager(maxsize=threads, retries=False)
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "x-gradient-workspace-id": WORKSPACE,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    url = f"{api_url.rstrip('/')}/embeddings/bge-large"

    def post(chunk: list[str]) -> list[list[float]]:
        body = json.dumps({"inputs": [{"input": t} for t in chunk]}).encode()
        response = pool.request("POST", url, body=body, headers=headers)
        if response.status != 200:
            raise SystemExit(f"bare client: HTTP {response.status}: {response.data[:200]!r}")
        items = json.loads(response.data)["embeddings"]
        return [item["embedding"] for item in sorted(items, key=lambda item: item["index"])]

    chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]

    def run() -> list[list[float]]:
        with ThreadPoolExecutor(threads) as executor:
            return [v for part in executor.map(post, chunks) for v in part]

    seconds, vectors = timed(run)
    pool.clear()
    return seconds, vectors


WORKERS: dict[str, Callable[[list[str], str], tuple[float, Any]]] = {
    "sdk": lambda texts, api_url: run_sdk(texts, api_url),
    "bare": lambda texts, api_url: run_bare(texts, api_url),
    "hayswitch-defaults": lambda texts, api_url: run_hayswitch(texts),
    "hayswitch-tuned": lambda texts, api_url: run_hayswitch(texts, batch_size=256, max_concurrency=16),
    "hayswitch-old-defaults": lambda texts, api_url: run_hayswitch(texts, batch_size=32, max_concurrency=8),
}


def worker_main(kind: str, texts_file: Path, vectors_file: Path) -> int:
    """Run one contender in this (fresh) process: every contender gets its own interpreter, as the
    peer does in its virtualenv, so none pays for another's garbage or imports."""
    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    seconds, vectors = WORKERS[kind](texts, os.environ["GRADIENT_API_URL"])
    np.save(vectors_file, np.asarray(vectors, dtype=np.float64))
    print(json.dumps({"seconds": seconds}))
    return 0


def run_in_subprocess(
    python: Path, script: Path, args: list[str], texts: list[str], env: dict[str, str]
) -> tuple[float, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        inputs, vectors = Path(tmp, "texts.json"), Path(tmp, "vectors.npy")
        inputs.write_text(json.dumps(texts), encoding="utf-8")
        proc = subprocess.run(
            [str(python), str(script), *args, str(inputs), str(vectors)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args) or script.name} failed:\n{proc.stderr[-3000:]}")
        seconds = float(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
        return seconds, np.load(vectors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.080, help="seconds per request")
    parser.add_argument("--per-input", type=float, default=0.0003, help="seconds per input")
    parser.add_argument("--server-concurrency", type=int, default=16)
    parser.add_argument("--skip-peer", action="store_true", help="do not run gradient-haystack 0.4.0")
    parser.add_argument("--peer-venv", type=Path, default=PEER_VENV)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--only", nargs="*", default=None, help="run only these worker kinds (plus the peer)")
    parser.add_argument("--rounds", type=int, default=1, help="run every contender this many times, interleaved")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.files[0], args.files[1])

    texts = make_texts(args.docs)
    peer_python = None if args.skip_peer else ensure_peer_venv(args.peer_venv)
    config = build_config(
        access_tokens=[TOKEN],
        workspace_ids=[WORKSPACE],
        latency_fixed=args.latency,
        latency_per_input=args.per_input,
        max_concurrency=args.server_concurrency,
    )
    results: list[dict[str, Any]] = []
    with EmulatorProcess(config) as emu, tempfile.TemporaryDirectory() as tmpdir:
        env = {
            **os.environ,
            "GRADIENT_ACCESS_TOKEN": TOKEN,
            "GRADIENT_WORKSPACE_ID": WORKSPACE,
            "GRADIENT_API_URL": emu.api_url,
        }
        contenders: list[tuple[str, Callable[[], tuple[float, Any]]]] = []
        if peer_python is not None:
            peer, script = peer_python, Path(tmpdir, "peer.py")
            script.write_text(PEER_SCRIPT, encoding="utf-8")
            # The peer's own virtualenv only: a PYTHONPATH pointing at this checkout would shadow
            # gradient-haystack with hayswitch's drop-in of the same module path.
            peer_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
            contenders.append(
                (
                    "gradient-haystack 0.4.0 GradientDocumentEmbedder (defaults)",
                    lambda: run_in_subprocess(peer, script, [], texts, peer_env),
                )
            )
        me, python = Path(__file__).resolve(), Path(sys.executable)
        kinds = (
            ("sdk", "gradientai 1.13.1 EmbeddingsModel.embed (raw SDK)"),
            ("bare", "bare urllib3 + json client (256 per request, 16 threads)"),
            ("hayswitch-defaults", "hayswitch ProviderDocumentEmbedder (no tuning arguments: provider defaults)"),
            ("hayswitch-tuned", "hayswitch ProviderDocumentEmbedder (batch_size=256, max_concurrency=16)"),
            ("hayswitch-old-defaults", "hayswitch ProviderDocumentEmbedder (batch_size=32, max_concurrency=8)"),
        )
        for kind, label in kinds:
            if args.only and kind not in args.only:
                continue
            args_for = ["--worker", kind]
            contenders.append((label, lambda a=args_for: run_in_subprocess(python, me, a, texts, env)))  # type: ignore[misc]
        best: dict[str, dict[str, Any]] = {}
        times: dict[str, list[float]] = {name: [] for name, _ in contenders}
        for round_number in range(args.rounds):
            for name, run in contenders:
                emu.reset_stats()
                seconds, vectors = run()
                check_vectors(name, texts, vectors)
                stats = emu.stats()
                sizes = stats["embed_batch_sizes"]
                times[name].append(round(seconds, 2))
                row = {
                    "contender": name,
                    "seconds": round(seconds, 2),
                    "docs_per_second": round(len(texts) / seconds),
                    "requests": len(sizes),
                    "max_batch": max(sizes) if sizes else 0,
                    "server_peak_concurrency": stats["max_in_flight"],
                    "vectors_verified": True,
                }
                if name not in best or seconds < best[name]["seconds"]:
                    best[name] = row
                print(
                    f"[{round_number + 1}/{args.rounds}] {name}: {seconds:.2f}s ({len(sizes)} requests, "
                    f"peak {stats['max_in_flight']} in flight)",
                    flush=True,
                )
        results = [{**best[name], "all_seconds": times[name]} for name, _ in contenders]

    baseline = results[0]["seconds"]
    bare = next((r["seconds"] for r in results if r["contender"].startswith("bare")), None)
    print()
    print(
        f"{len(texts):,} documents, emulator: {args.latency * 1000:g} ms/request + {args.per_input * 1000:g} ms/input, "
        f"{args.server_concurrency} concurrent requests served; best of {args.rounds} interleaved round(s)"
    )
    print()
    print("| contender | wall time (s) | docs/s | requests | peak in flight | vs first row | vs bare client |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = baseline / r["seconds"]
        vs_bare = f"{bare / r['seconds']:.2f}x" if bare else "-"
        print(
            f"| {r['contender']} | {r['seconds']:.2f} | {r['docs_per_second']:,} | {r['requests']} | "
            f"{r['server_peak_concurrency']} | {ratio:.2f}x | {vs_bare} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"docs": len(texts), "results": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
