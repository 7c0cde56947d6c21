"""Benchmark: embedding on Ray Data with the Gradient emulator (not a test; timings depend on the machine).

Two measurements, both against ``tools/gradient-emulator`` running in its own process with realistic
service times (default 80 ms per request + 0.3 ms per input, no limit on requests served at once):

1. **Actor scaling**: ``hayswitch.ray.embed_dataset`` (``map_batches(HayswitchEmbedder)`` over an
   actor pool) with 1, 2 and 4 actors on the same documents, each actor sending one request of
   ``--batch-size`` texts at a time, next to the same work in one process
   (``ProviderDocumentEmbedder``, one request in flight, then as many as the largest pool). The
   work is latency-bound, so throughput should grow with the number of requests in flight until
   the machine's CPUs (parsing 1024-d responses, the emulator computing them) become the limit.
2. **Engine overhead**: ``hayswitch index CORPUS --engine local`` vs ``--engine ray`` (local
   cluster) on the same generated Markdown corpus, each in a fresh process, with the time to start
   Ray reported separately.

Every output is checked: each document must carry the emulator's vector of its own text.

Run from the repository root::

    .venv/bin/python bench/ray_bench.py                     # 2,000 documents, 1/2/4 actors
    .venv/bin/python bench/ray_bench.py --docs 500 --actors 1,2 --json bench/results/ray.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from gradient_emulator import EmulatorProcess, build_config, embedding

from hayswitch.ray import HayswitchEmbedder, embed_dataset

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-fake-token"
WORKSPACE = "bench-fake_workspace"


def make_texts(n: int, seed: int = 11) -> list[str]:
    """Distinct, deterministic documents of 20-60 words."""
    rng = random.Random(seed)
    vocabulary = [f"{stem}{i}" for stem in ("data", "model", "vector", "query", "graph", "token") for i in range(300)]
    return [f"Document {i}: " + " ".join(rng.choices(vocabulary, k=rng.randint(20, 60))) for i in range(n)]


def check(name: str, expected: dict[str, str], got: dict[str, Any]) -> None:
    """Every id exactly once, each with the emulator's vector of its own text."""
    if sorted(got) != sorted(expected):
        raise SystemExit(f"{name}: {len(got)} distinct ids came back for {len(expected)} documents")
    for key, text in expected.items():
        vector = got[key]
        if vector is None or np.abs(np.asarray(vector, dtype=np.float64) - np.asarray(embedding(text))).max() > 1e-9:
            raise SystemExit(f"{name}: document {key} did not get its own text's vector")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


class TimedEmbedder(HayswitchEmbedder):
    """Stamps each batch with when its call started and ended, so the steady-state throughput
    (first call start to last call end: actors already up) can be told from the wall time, which
    includes starting the actors (importing hayswitch and the SDK, building the provider)."""

    def __call__(self, batch: Any) -> Any:
        started = time.time()
        out = super().__call__(batch)
        count = len(out["id"])
        out["call_start"], out["call_end"] = np.full(count, started), np.full(count, time.time())
        return out


STEADY: dict[int, float] = {}


def run_actors(ray: Any, records: list[dict[str, str]], actors: int, batch_size: int) -> tuple[float, dict[str, Any]]:
    """``embed_dataset`` over ``actors`` actors; the wall time includes starting them."""
    dataset = ray.data.from_items(records, override_num_blocks=max(1, len(records) // batch_size))
    out = embed_dataset(
        dataset,
        workers=actors,
        batch_size=batch_size,
        num_cpus=min(1.0, 2.0 / actors),  # every actor fits on this 2-CPU machine
        embedder_cls=TimedEmbedder,
        provider="gradient",
        request_batch_size=batch_size,
    )
    seconds, rows = timed(out.take_all)
    STEADY[actors] = max(r["call_end"] for r in rows) - min(r["call_start"] for r in rows)
    failed = [r["id"] for r in rows if r["embedding_status"] != "ok"]
    if failed:
        raise SystemExit(f"{actors} actor(s): {len(failed)} documents failed, e.g. {failed[0]}")
    return seconds, {r["id"]: r["embedding"] for r in rows}


def run_in_process(records: list[dict[str, str]], batch_size: int, concurrency: int) -> tuple[float, dict[str, Any]]:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    embedder = ProviderDocumentEmbedder(
        provider="gradient", batch_size=batch_size, max_concurrency=concurrency, progress_bar=False
    )
    embedder.warm_up()
    docs = [Document(id=r["id"], content=r["text"]) for r in records]
    seconds, out = timed(lambda: embedder.run(docs)["documents"])
    embedder.close()
    return seconds, {d.id: d.embedding for d in out}


def write_corpus(folder: Path, texts: list[str], per_file: int = 20) -> None:
    """Markdown files of ``per_file`` short sections each (every section becomes one passage)."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(texts), per_file):
        body = "\n\n".join(f"## Section {start + i}\n\n{t}" for i, t in enumerate(texts[start : start + per_file]))
        (folder / f"doc-{start // per_file:04d}.md").write_text(f"# File {start // per_file}\n\n{body}\n")


INDEX_SCRIPT = """
import json, sys, time
from pathlib import Path
from hayswitch.cli.index import index_paths
engine, corpus, store, workers = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
options = {} if engine == "local" else {"engine": "ray", "workers": workers}
started = time.perf_counter()
report = index_paths([corpus], store_path=store, provider="gradient", progress=False, cache=False, **options)
print(json.dumps({"seconds": time.perf_counter() - started, "embedded": report.embedded,
                  "ray_start_seconds": getattr(report, "ray_start_seconds", None)}))
"""


def run_index(engine: str, corpus: Path, store: Path, workers: int, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT, engine, str(corpus), str(store), str(workers)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"hayswitch index --engine {engine} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32, help="texts per request (and per actor call)")
    parser.add_argument("--actors", default="1,2,4", help="comma-separated pool sizes")
    parser.add_argument("--latency", type=float, default=0.080, help="seconds per request")
    parser.add_argument("--per-input", type=float, default=0.0003, help="seconds per input")
    parser.add_argument("--skip-engines", action="store_true", help="skip the hayswitch index engine comparison")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    pools = [int(a) for a in args.actors.split(",")]
    texts = make_texts(args.docs)
    records = [{"id": f"doc-{i:06d}", "text": t} for i, t in enumerate(texts)]
    expected = {r["id"]: r["text"] for r in records}
    load_start = os.getloadavg()[0]
    config = build_config(
        access_tokens=[TOKEN], workspace_ids=[WORKSPACE], latency_fixed=args.latency, latency_per_input=args.per_input
    )
    rows: list[dict[str, Any]] = []
    engines: list[dict[str, Any]] = []
    with EmulatorProcess(config) as emu:
        os.environ.update(
            {"GRADIENT_ACCESS_TOKEN": TOKEN, "GRADIENT_WORKSPACE_ID": WORKSPACE, "GRADIENT_API_URL": emu.api_url}
        )

        def measure(name: str, actors: int | None, in_flight: int, fn: Callable[[], tuple[float, Any]]) -> None:
            emu.reset_stats()
            seconds, vectors = fn()
            check(name, expected, vectors)
            stats = emu.stats()
            steady = STEADY.get(actors, seconds) if actors else seconds
            rows.append(
                {
                    "contender": name,
                    "actors": actors,
                    "requests_in_flight": in_flight,
                    "seconds": round(seconds, 2),
                    "docs_per_second": round(len(records) / seconds),
                    "steady_seconds": round(steady, 2),
                    "steady_docs_per_second": round(len(records) / steady),
                    "requests": len(stats["embed_batch_sizes"]),
                    "server_peak_concurrency": stats["max_in_flight"],
                }
            )
            print(f"{name}: {seconds:.2f}s wall, {len(records) / steady:.0f} docs/s steady", flush=True)

        run_in_process(records, args.batch_size, 4)  # warm-up: the emulator caches its word vectors

        measure(
            "in one process: ProviderDocumentEmbedder, 1 request in flight",
            None,
            1,
            lambda: run_in_process(records, args.batch_size, 1),
        )
        most = max(pools)
        measure(
            f"in one process: ProviderDocumentEmbedder, {most} requests in flight",
            None,
            most,
            lambda: run_in_process(records, args.batch_size, most),
        )
        from hayswitch.ray import start_ray

        ray_start, ray = timed(lambda: start_ray(num_cpus=2))
        print(f"local Ray cluster started in {ray_start:.1f}s", flush=True)
        try:
            for actors in pools:
                measure(
                    f"Ray Data: embed_dataset, {actors} actor(s)",
                    actors,
                    actors,
                    lambda a=actors: run_actors(ray, records, a, args.batch_size),  # type: ignore[misc]
                )
        finally:
            ray.shutdown()

        if not args.skip_engines:
            env = {**os.environ}
            with tempfile.TemporaryDirectory() as tmp:
                corpus = Path(tmp, "corpus")
                write_corpus(corpus, texts)
                for engine, workers in [("local", 1), *(("ray", p) for p in pools)]:
                    result = run_index(engine, corpus, Path(tmp, f"store-{engine}-{workers}"), workers, env)
                    result.update(engine=engine, workers=workers if engine == "ray" else None)
                    engines.append(result)
                    print(f"hayswitch index --engine {engine} (workers {workers}): {result}", flush=True)

    summary = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}",
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "docs": len(records),
        "batch_size": args.batch_size,
        "emulator": {"latency": args.latency, "per_input": args.per_input},
        "ray_start_seconds": round(ray_start, 1),
        "embedding": rows,
        "engines": engines,
    }
    base = rows[0]["steady_seconds"]
    print()
    print(
        f"{len(records):,} documents, requests of {args.batch_size}, emulator {args.latency * 1000:g} ms/request + "
        f"{args.per_input * 1000:g} ms/input; load average {summary['load_average']}"
    )
    print()
    print(
        "| contender | requests in flight | wall time (s) | docs/s (wall) | docs/s (steady) "
        "| steady vs 1 request in one process | peak in flight at the server |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['contender']} | {row['requests_in_flight']} | {row['seconds']:.2f} | "
            f"{row['docs_per_second']:,} | {row['steady_docs_per_second']:,} | {base / row['steady_seconds']:.2f}x | "
            f"{row['server_peak_concurrency']} |"
        )
    if engines:
        local = engines[0]["seconds"]
        print()
        print("| hayswitch index | wall time (s) | vs --engine local |")
        print("|---|---:|---:|")
        for e in engines:
            label = "--engine local" if e["engine"] == "local" else f"--engine ray --workers {e['workers']}"
            print(f"| {label} | {e['seconds']:.2f} | {e['seconds'] / local:.2f}x |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
