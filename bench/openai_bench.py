"""Benchmark of the ``openai`` provider against the local llama.cpp OpenAI-compatible server.

Measures what the provider adds and how batching and concurrency behave against a real server:

* embeddings: texts per second at several ``batch_size`` values (one request per batch);
* generation: wall time of N short generations sequentially (sync) and concurrently (async);
* streaming: time to first chunk and total time.

Run: ``.venv/bin/python bench/openai_bench.py [--threads N] [--json]``. The server runs on this
machine, so the figures describe this machine (2 shared cores), not a serving cluster: the
llama.cpp Python server runs one request at a time, so concurrency shows queueing, not speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from hayswitch import get_provider
from llamacpp_server import DEFAULT_ALIAS, LlamaCppServer


def _texts(n: int) -> list[str]:
    return [f"Benchmark sentence {i}: the quick brown fox jumps over lazy dog number {i % 13}." for i in range(n)]


def bench(threads: int | None, n_texts: int, n_generations: int) -> dict[str, Any]:
    results: dict[str, Any] = {"load_average_before": os.getloadavg()[0], "server_threads": threads}
    started = time.perf_counter()
    with LlamaCppServer(n_threads=threads) as server:
        results["server_start_s"] = round(time.perf_counter() - started, 2)
        base: dict[str, Any] = {"base_url": server.base_url, "api_key": None, "chat_model": DEFAULT_ALIAS}
        provider = get_provider("openai", embedding_model=DEFAULT_ALIAS, **base)
        provider.generate("warm up", {"max_tokens": 1})
        provider.embed_text("warm up")

        embed_rows = []
        for batch_size in (1, 8, 32, 64):
            p = get_provider("openai", embedding_model=DEFAULT_ALIAS, batch_size=batch_size, **base)
            texts = _texts(n_texts)
            t0 = time.perf_counter()
            result = p.embed_documents(texts)
            elapsed = time.perf_counter() - t0
            embed_rows.append(
                {
                    "batch_size": batch_size,
                    "texts": len(result.vectors),
                    "seconds": round(elapsed, 2),
                    "texts_per_s": round(len(texts) / elapsed, 1),
                }
            )
            p.close()
        results["embeddings"] = embed_rows

        options = {"max_tokens": 16, "temperature": 0.0}
        prompts = [f"Give one word for the number {i}." for i in range(n_generations)]
        t0 = time.perf_counter()
        latencies = []
        tokens = 0
        for prompt in prompts:
            t1 = time.perf_counter()
            r = provider.generate(prompt, options)
            latencies.append(time.perf_counter() - t1)
            tokens += (r.usage.completion_tokens or 0) if r.usage else 0
        sequential = time.perf_counter() - t0

        async def concurrent() -> float:
            t = time.perf_counter()
            await asyncio.gather(*(provider.agenerate(p, options) for p in prompts))
            return time.perf_counter() - t

        concurrent_s = asyncio.run(concurrent())
        results["generation"] = {
            "requests": n_generations,
            "max_tokens": 16,
            "sequential_s": round(sequential, 2),
            "median_latency_s": round(statistics.median(latencies), 3),
            "completion_tokens_per_s": round(tokens / sequential, 1),
            "async_concurrent_s": round(concurrent_s, 2),
        }

        t0 = time.perf_counter()
        stream = provider.stream("Count from one to twenty.", {"max_tokens": 32, "temperature": 0.0})
        first = next(stream)
        ttfc = time.perf_counter() - t0
        chunks = [first, *stream]
        results["streaming"] = {
            "time_to_first_chunk_s": round(ttfc, 3),
            "total_s": round(time.perf_counter() - t0, 2),
            "chunks": len(chunks),
        }
        provider.close()
    results["load_average_after"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp server threads (0: all cores, max 4)")
    parser.add_argument("--texts", type=int, default=128)
    parser.add_argument("--generations", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = bench(args.threads or None, args.texts, args.generations)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"server start: {results['server_start_s']} s (threads={args.threads or 'auto'})")
    print(f"load average before/after: {results['load_average_before']:.2f} / {results['load_average_after']:.2f}")
    print("embeddings (texts/s by batch_size):")
    for row in results["embeddings"]:
        size, n, secs, rate = row["batch_size"], row["texts"], row["seconds"], row["texts_per_s"]
        print(f"  batch_size={size:>3}: {n} texts in {secs} s = {rate}/s")
    g = results["generation"]
    print(
        f"generation: {g['requests']} x max_tokens={g['max_tokens']}: sequential {g['sequential_s']} s "
        f"(median {g['median_latency_s']} s, {g['completion_tokens_per_s']} tok/s), "
        f"async concurrent {g['async_concurrent_s']} s"
    )
    s = results["streaming"]
    print(f"streaming: first chunk after {s['time_to_first_chunk_s']} s, {s['chunks']} chunks in {s['total_s']} s")


if __name__ == "__main__":
    main()
