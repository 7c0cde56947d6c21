"""Retrieval quality of the local provider on the project's own fixture.

``tests/fixtures/retrieval/retrieval.json`` holds 22 passages about hayswitch and 22 paraphrased
questions, each answered by one passage. The passages are embedded with ProviderDocumentEmbedder,
each question with ProviderTextEmbedder, and InMemoryEmbeddingRetriever returns the top 3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).parents[1] / "fixtures" / "retrieval" / "retrieval.json"

pytestmark = [pytest.mark.slow]


def _top3_hits() -> tuple[float, list[dict[str, Any]]]:
    from haystack import Document
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder

    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    docs = [Document(content=p["text"], meta={"passage_id": p["id"]}) for p in data["passages"]]
    embedded = ProviderDocumentEmbedder(provider="local", progress_bar=False).run(documents=docs)["documents"]
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    store.write_documents(embedded)
    retriever = InMemoryEmbeddingRetriever(document_store=store, top_k=3)
    text_embedder = ProviderTextEmbedder(provider="local")
    rows = []
    for item in data["questions"]:
        embedding = text_embedder.run(text=item["question"])["embedding"]
        found = [d.meta["passage_id"] for d in retriever.run(query_embedding=embedding)["documents"]]
        rows.append({"question": item["question"], "expected": item["passage"], "top3": found})
    rate = sum(r["expected"] in r["top3"] for r in rows) / len(rows)
    return rate, rows


def test_fixture_is_well_formed() -> None:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    ids = [p["id"] for p in data["passages"]]
    assert len(ids) == len(set(ids)) >= 20
    assert len(data["questions"]) >= 20
    assert {q["passage"] for q in data["questions"]} <= set(ids)


def test_local_top3_hit_rate_is_at_least_0_8() -> None:
    rate, rows = _top3_hits()
    misses = [r for r in rows if r["expected"] not in r["top3"]]
    report = "\n".join(f"  miss: {r['question']!r} expected {r['expected']}, got {r['top3']}" for r in misses)
    print(f"\nlocal top-3 hit rate: {rate:.3f} ({len(rows) - len(misses)}/{len(rows)})\n{report}")
    assert rate >= 0.8, f"top-3 hit rate {rate:.3f} < 0.8\n{report}"
