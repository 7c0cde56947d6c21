"""Answer quality of ``hayswitch ask``'s answer generation on a QA fixture (not a test).

The corpus (``tests/fixtures/qa/corpus/``: short notes on invented topics, so a model cannot answer
from memory) is split like ``hayswitch index`` splits it (markdown headings, then 80-word
passages), embedded with the provider's embedder into an in-memory Haystack store, and every
question of a question set is answered with the same function as ``hayswitch ask``
(:func:`hayswitch.cli.answer.grounded_answer`: EvidenceSelector -> chat generator ->
AnswerGrounder) from the top-3 retrieved passages.

Scored per question:

* answerable (``expected`` is a list): correct when the printed answer contains one of the
  expected strings (case-insensitive, whitespace-normalised) -- the answer only, not the evidence
  lines or the sources shown below it;
* unanswerable (``expected`` is null): correct when the answer is the not-found message.

Also reported: retrieval hit rate (the question's source file among the top-k passages), how many
answers were the model's own wording (``generated``) vs the evidence sentence (``extracted``), and
the latency per question. ``--baseline`` also runs the answer step of ``hayswitch ask`` before
grounding (the previous prompt over the numbered passages, 160 tokens) for comparison.

Run from the repository root::

    .venv/bin/python bench/qa_bench.py                        # both sets, local provider
    .venv/bin/python bench/qa_bench.py --set heldout --show   # one set, print every answer
    .venv/bin/python bench/qa_bench.py --provider fake        # the pipeline without models

Results: stdout (Markdown) and ``--json FILE`` (default ``bench/results/qa.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "qa"
SETS = {"questions": FIXTURE / "questions.json", "heldout": FIXTURE / "heldout.json"}

# The answer step of `hayswitch ask` before grounding (main at 6c223d4), for --baseline.
BASELINE_SYSTEM = (
    "You answer questions using only the numbered context passages. "
    "Answer in a few short sentences or a short numbered list. "
    "If the passages do not contain the answer, say that you do not know."
)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def contains_fact(answer: str, expected: list[str]) -> bool:
    """Whether ``answer`` contains one of ``expected`` as whole words (case- and
    whitespace-insensitive): "no" does not match inside "not", "11" not inside "114"."""
    text = _norm(answer)
    return any(re.search(rf"(?<!\w){re.escape(_norm(e))}(?!\w)", text) for e in expected)


def build_store(provider: str, corpus: Path) -> tuple[Any, int, float]:
    """Split and embed ``corpus`` into an InMemoryDocumentStore, like ``hayswitch index``."""
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
    from hayswitch.cli.ingest import build_preprocessing_pipeline, read_file, split_files
    from hayswitch.cli.store import collect_files

    started = time.perf_counter()
    files, _ = collect_files([corpus])
    read = []
    for path in files:
        corpus_file = read_file(path)
        if isinstance(corpus_file, str):
            raise SystemExit(f"error: {path}: {corpus_file}")
        read.append(corpus_file)
    documents = [doc for docs in split_files(build_preprocessing_pipeline(), read).values() for doc in docs]
    embedder = ProviderDocumentEmbedder(provider=provider, meta_fields_to_embed=["heading"], progress_bar=False)
    embedded = embedder.run(documents=documents)["documents"]
    embedder.close()
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    store.write_documents(embedded)
    return store, len(embedded), time.perf_counter() - started


def run_set(
    name: str, store: Any, provider: str, top_k: int, baseline: bool, show: bool, generate: bool = True
) -> dict[str, Any]:
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever

    from hayswitch.answering import NOT_FOUND
    from hayswitch.cli.answer import build_answer_pipeline, close_answer_pipeline, grounded_answer
    from hayswitch.cli.ask import build_rag_pipeline

    questions = json.loads(SETS[name].read_text(encoding="utf-8"))["questions"]
    retrieval = build_rag_pipeline(store, provider=provider, top_k=top_k)
    retrieval.get_component("retriever")  # the in-memory retriever over the bench store
    assert isinstance(retrieval.get_component("retriever"), InMemoryEmbeddingRetriever)
    answering = build_answer_pipeline(provider=provider, generate=generate)
    baseline_llm = None
    if baseline:
        from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

        baseline_llm = ProviderChatGenerator(provider=provider, generation_kwargs={"max_tokens": 160})
    rows: list[dict[str, Any]] = []
    for item in questions:
        question, expected = item["q"], item["expected"]
        started = time.perf_counter()
        documents = retrieval.run({"text_embedder": {"text": question}})["retriever"]["documents"]
        result = grounded_answer(question, documents, pipeline=answering)
        seconds = time.perf_counter() - started
        files = [Path(str(d.meta.get("file_path"))).name for d in documents]
        row: dict[str, Any] = {
            "question": question,
            "expected": expected,
            "answer": result.answer,
            "status": result.status,
            "reply": result.reply,
            "reason": result.reason,
            "score": round(result.score, 4),
            "evidence_source": result.evidence[0]["source"] if result.evidence else None,
            "retrieved": files,
            "retrieval_hit": item.get("source") in files if expected else None,
            "correct": contains_fact(result.answer, expected) if expected else result.answer == NOT_FOUND,
            "seconds": round(seconds, 3),
        }
        if baseline_llm is not None:
            from haystack.dataclasses import ChatMessage

            context = "\n".join(f"[{i}] {d.meta.get('heading', '')}: {d.content}" for i, d in enumerate(documents, 1))
            user = f"Context:\n{context}\n\nQuestion: {question}"
            t0 = time.perf_counter()
            reply = baseline_llm.run([ChatMessage.from_system(BASELINE_SYSTEM), ChatMessage.from_user(user)])
            text = reply["replies"][0].text or ""
            row["baseline_answer"] = text
            row["baseline_seconds"] = round(time.perf_counter() - t0, 3)
            row["baseline_correct"] = contains_fact(text, expected) if expected else None
        rows.append(row)
        if show:
            mark = "ok " if row["correct"] else "BAD"
            print(f"{mark} [{row['status']:9}] {row['score']:.3f} {question}\n      -> {result.answer}")
            if result.reply and result.status != "generated":
                print(f"      (reply rejected: {result.reason}: {result.reply!r})")
    close_answer_pipeline(answering)
    retrieval.get_component("text_embedder").close()
    if baseline_llm is not None:
        baseline_llm.close()
    return summarise(name, rows)


def summarise(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["expected"]]
    unanswerable = [r for r in rows if not r["expected"]]
    summary: dict[str, Any] = {
        "set": name,
        "answerable": len(answerable),
        "answerable_correct": sum(r["correct"] for r in answerable),
        "unanswerable": len(unanswerable),
        "unanswerable_correct": sum(r["correct"] for r in unanswerable),
        "retrieval_hits": sum(bool(r["retrieval_hit"]) for r in answerable),
        "generated": sum(r["status"] == "generated" for r in rows),
        "extracted": sum(r["status"] == "extracted" for r in rows),
        "not_found": sum(r["status"] == "not_found" for r in rows),
        "median_seconds": round(statistics.median(r["seconds"] for r in rows), 3),
        "max_seconds": round(max(r["seconds"] for r in rows), 3),
        "rows": rows,
    }
    if rows and "baseline_correct" in rows[0]:
        summary["baseline_answerable_correct"] = sum(bool(r["baseline_correct"]) for r in answerable)
        summary["baseline_median_seconds"] = round(statistics.median(r["baseline_seconds"] for r in rows), 3)
    return summary


def table(results: list[dict[str, Any]]) -> str:
    def pct(a: int, b: int) -> str:
        return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "-"

    lines = [
        '| question set | answers containing the expected fact | correct "not found" | retrieval hit (top-3) '
        "| generated / extracted / not found | median s/question |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['set']} | {pct(r['answerable_correct'], r['answerable'])} | "
            f"{pct(r['unanswerable_correct'], r['unanswerable'])} | {pct(r['retrieval_hits'], r['answerable'])} | "
            f"{r['generated']} / {r['extracted']} / {r['not_found']} | {r['median_seconds']:.2f} |"
        )
    if any("baseline_answerable_correct" in r for r in results):
        lines.append("")
        lines.append("| question set | before grounding: answers containing the expected fact | median s/question |")
        lines.append("|---|---:|---:|")
        for r in results:
            if "baseline_answerable_correct" in r:
                lines.append(
                    f"| {r['set']} | {pct(r['baseline_answerable_correct'], r['answerable'])} | "
                    f"{r['baseline_median_seconds']:.2f} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--provider", default="local", help="provider for embeddings and generation (default: local)")
    parser.add_argument("--set", choices=[*SETS, "both"], default="both")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also run the pre-grounding prompt")
    parser.add_argument("--show", action="store_true", help="print every question and answer")
    parser.add_argument(
        "--no-generate", action="store_true", help="evidence selection only: the answer is the evidence sentence"
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "qa.json")
    args = parser.parse_args(argv)

    store, passages, index_seconds = build_store(args.provider, FIXTURE / "corpus")
    print(f"indexed {passages} passages in {index_seconds:.1f}s with provider {args.provider!r}", file=sys.stderr)
    names = list(SETS) if args.set == "both" else [args.set]
    results: list[dict[str, Any]] = []
    for set_name in names:  # the JSON is rewritten after each set, so a long run keeps what it measured
        results.append(
            run_set(set_name, store, args.provider, args.top_k, args.baseline, args.show, generate=not args.no_generate)
        )
        payload = {
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "provider": args.provider,
            "top_k": args.top_k,
            "generate": not args.no_generate,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "results": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
