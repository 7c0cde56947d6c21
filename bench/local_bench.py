"""Benchmark of the ``local`` provider against the raw libraries it wraps (not a test).

Measures, in one process:

1. **Embedding throughput**: N passages (default 2,000) through ``ProviderDocumentEmbedder`` on
   ``local`` vs ``SentenceTransformer.encode`` on the same passages with the same batch size, as
   passages/s and a ratio (goal: >= 0.95). Runs alternate (raw, component, raw, component, ...)
   and the best of each is kept, so a burst of load from other processes does not decide it.
2. **Generation throughput**: completion tokens/s through ``ProviderChatGenerator`` vs raw
   ``llama_cpp.Llama.create_chat_completion`` on the same messages, model file, context size,
   ``max_tokens``, temperature 0 and seed (goal: >= 0.95). The KV cache is reset before every run
   so that neither side reuses the other's evaluated prompt.
3. **Time to first token** with streaming (component callback vs raw stream).
4. **Peak memory** (max RSS of the process) after each phase.

Run it from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/local_bench.py            # the full run
    HF_HUB_OFFLINE=1 .venv/bin/python bench/local_bench.py --passages 200 --rounds 1   # quick look

Results go to stdout (a Markdown table for bench/README.md) and, with ``--json FILE``, to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_passages(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct passages of 40-120 words, built deterministically from the sentences of the
    project's docs and retrieval fixture."""
    sentences: list[str] = []
    for path in sorted((ROOT / "docs").rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="ignore")
        sentences += [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.split()) >= 5]
    fixture = json.loads((ROOT / "tests" / "fixtures" / "retrieval" / "retrieval.json").read_text())
    sentences += [p["text"] for p in fixture["passages"]] + [q["question"] for q in fixture["questions"]]
    rng = random.Random(seed)
    passages = []
    for i in range(n):
        target = rng.randint(40, 120)
        words: list[str] = []
        while len(words) < target:
            words += rng.choice(sentences).split()
        passages.append(f"Passage {i}. " + " ".join(words[:target]))
    return passages


def bench_embeddings(n: int, batch_size: int, rounds: int) -> dict[str, Any]:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
    from hayswitch_local import LocalProvider

    passages = build_passages(n)
    docs = [Document(content=p) for p in passages]
    # The component's batch_size is the number of texts per provider request; the provider encodes
    # each request with the same sentence-transformers batch size as the raw baseline.
    component = ProviderDocumentEmbedder(
        provider="local",
        settings={"embedding_batch_size": batch_size},
        batch_size=LocalProvider.capabilities.max_batch_size,
        progress_bar=False,
    )
    component.warm_up()
    model = component.provider_instance.embedder().model  # type: ignore[union-attr]
    # Warm-up: load weights, first-call allocations.
    model.encode(passages[:64], batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    component.run(documents=docs[:64])

    raw_times: list[float] = []
    comp_times: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        raw = model.encode(
            passages, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        raw_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = component.run(documents=docs)["documents"]
        comp_times.append(time.perf_counter() - start)
    if len(out) != n or raw.shape != (n, 384):
        raise RuntimeError(f"expected {n} vectors of 384 floats on both sides, got {len(out)} and {raw.shape}")
    max_diff = max(
        abs(a - b) for d, r in zip(out[:50], raw[:50], strict=True) for a, b in zip(d.embedding, r, strict=True)
    )
    raw_best, comp_best = min(raw_times), min(comp_times)
    return {
        "passages": n,
        "words_per_passage": "40-120",
        "encode_batch_size": batch_size,
        "provider_request_size": LocalProvider.capabilities.max_batch_size,
        "raw_seconds": [round(t, 2) for t in raw_times],
        "component_seconds": [round(t, 2) for t in comp_times],
        "raw_passages_per_s": round(n / raw_best, 1),
        "component_passages_per_s": round(n / comp_best, 1),
        "ratio_best": round(raw_best / comp_best, 3),
        "ratio_median": round(statistics.median(raw_times) / statistics.median(comp_times), 3),
        "max_abs_vector_difference": float(max_diff),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def bench_generation(max_tokens: int, rounds: int) -> dict[str, Any]:
    from haystack.dataclasses import ChatMessage
    from llama_cpp import Llama

    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator
    from hayswitch_local import DEFAULT_CHAT_MODEL, LocalProvider, resolve_chat_model

    settings = LocalProvider.settings_model()
    system = "You answer questions using only the numbered context passages."
    context = " ".join(build_passages(3, seed=1))
    user = f"Context:\n{context}\n\nQuestion: What does hayswitch do, and how do I configure a provider?"
    messages = [ChatMessage.from_system(system), ChatMessage.from_user(user)]
    raw_messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    options = {"max_tokens": max_tokens, "temperature": 0.0, "seed": settings.seed}  # type: ignore[attr-defined]

    generator = ProviderChatGenerator(provider="local", generation_kwargs=options)
    generator.warm_up()
    shared = generator.provider_instance.chat_llm().model  # type: ignore[union-attr]
    path = resolve_chat_model(DEFAULT_CHAT_MODEL)
    raw_llm: Any = Llama(
        model_path=str(path),
        n_ctx=settings.n_ctx,  # type: ignore[attr-defined]
        n_threads=settings.n_threads,  # type: ignore[attr-defined]
        n_batch=settings.n_batch,  # type: ignore[attr-defined]
        verbose=False,
    )
    raw_kwargs = {
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": settings.seed,  # type: ignore[attr-defined]
        "top_p": settings.top_p,  # type: ignore[attr-defined]
        "top_k": settings.top_k,  # type: ignore[attr-defined]
        "repeat_penalty": settings.repeat_penalty,  # type: ignore[attr-defined]
    }
    # Warm-up both (first decode allocations).
    raw_llm.create_chat_completion(messages=raw_messages[:1], max_tokens=4)
    generator.run(messages=messages[:1], generation_kwargs={"max_tokens": 4})

    raw_rates: list[float] = []
    comp_rates: list[float] = []
    raw_tokens = comp_tokens = 0
    raw_text = comp_text = ""
    prompt_tokens = 0
    for _ in range(rounds):
        raw_llm.reset()
        start = time.perf_counter()
        response = raw_llm.create_chat_completion(messages=raw_messages, **raw_kwargs)
        elapsed = time.perf_counter() - start
        raw_tokens = response["usage"]["completion_tokens"]
        prompt_tokens = response["usage"]["prompt_tokens"]
        raw_text = response["choices"][0]["message"]["content"]
        raw_rates.append(raw_tokens / elapsed)

        shared.reset()
        start = time.perf_counter()
        reply = generator.run(messages=messages)["replies"][0]
        elapsed = time.perf_counter() - start
        comp_tokens = reply.meta["usage"]["completion_tokens"]
        comp_text = reply.text or ""
        comp_rates.append(comp_tokens / elapsed)

    # Time to first token, streaming.
    ttft_raw: list[float] = []
    ttft_comp: list[float] = []
    for _ in range(rounds):
        raw_llm.reset()
        start = time.perf_counter()
        for chunk in raw_llm.create_chat_completion(messages=raw_messages, stream=True, **raw_kwargs):
            if chunk["choices"][0]["delta"].get("content"):
                ttft_raw.append(time.perf_counter() - start)
                break
        raw_llm.reset()  # (the abandoned stream is discarded)

        shared.reset()
        first: list[float] = []
        start = time.perf_counter()

        def callback(chunk: Any, _first: list[float] = first, _start: float = start) -> None:
            if chunk.content and not _first:
                _first.append(time.perf_counter() - _start)

        generator.run(messages=messages, streaming_callback=callback)
        ttft_comp.append(first[0])

    return {
        "model": DEFAULT_CHAT_MODEL,
        "prompt_tokens": prompt_tokens,
        "max_tokens": max_tokens,
        "raw_completion_tokens": raw_tokens,
        "component_completion_tokens": comp_tokens,
        "same_text": raw_text == comp_text,
        "raw_tokens_per_s": [round(r, 1) for r in raw_rates],
        "component_tokens_per_s": [round(r, 1) for r in comp_rates],
        "ratio_best": round(max(comp_rates) / max(raw_rates), 3),
        "ratio_median": round(statistics.median(comp_rates) / statistics.median(raw_rates), 3),
        "ttft_raw_s": round(min(ttft_raw), 3),
        "ttft_component_s": round(min(ttft_comp), 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="Also write the results to this file.")
    args = parser.parse_args()

    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    print(f"embedding {args.passages} passages x {args.rounds} rounds ...", file=sys.stderr, flush=True)
    results["embeddings"] = bench_embeddings(args.passages, args.batch_size, args.rounds)
    print(json.dumps(results["embeddings"], indent=2), file=sys.stderr, flush=True)
    print(f"generating {args.max_tokens} tokens x {args.rounds} rounds ...", file=sys.stderr, flush=True)
    results["generation"] = bench_generation(args.max_tokens, args.rounds)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)

    e, g = results["embeddings"], results["generation"]
    print(json.dumps(results, indent=2))
    print(
        "\n| measure | raw library | through hayswitch | ratio (best / median) |\n|---|---|---|---|\n"
        f"| embeddings, {e['passages']} passages, batch {e['encode_batch_size']} "
        f"| {e['raw_passages_per_s']} passages/s | {e['component_passages_per_s']} passages/s "
        f"| {e['ratio_best']} / {e['ratio_median']} |\n"
        f"| generation, {g['prompt_tokens']}-token prompt, {g['max_tokens']} new tokens | "
        f"{max(g['raw_tokens_per_s'])} tokens/s | {max(g['component_tokens_per_s'])} tokens/s | "
        f"{g['ratio_best']} / {g['ratio_median']} |\n"
        f"| time to first token (streaming) | {g['ttft_raw_s']} s | {g['ttft_component_s']} s | |\n"
        f"| peak RSS after embeddings / after generation | | {e['peak_rss_mib']} MiB / {g['peak_rss_mib']} MiB | |"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
