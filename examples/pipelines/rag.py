"""Index a folder of notes and answer a question with the two YAML pipelines of this folder.

``indexing.yaml`` and ``query.yaml`` are loaded with ``Pipeline.loads`` and never edited: the
backend is whichever provider is configured, so switching is a change of configuration only::

    HAYSWITCH_PROVIDER=fake   python examples/pipelines/rag.py            # instant, deterministic
    HAYSWITCH_PROVIDER=local  python examples/pipelines/rag.py            # offline, real models
    HAYSWITCH_PROVIDER=openai HAYSWITCH_OPENAI__BASE_URL=http://127.0.0.1:8000/v1 \\
        python examples/pipelines/rag.py                                  # any OpenAI-compatible server
    HAYSWITCH_PROFILE=gradient python examples/pipelines/rag.py           # a profile in hayswitch.toml

Options: ``--notes DIR`` (default: examples/notes), ``--question TEXT``, ``--max-tokens N``, ``--json``,
``--grounded`` (answer with ``grounded_query.yaml`` instead: evidence sentences, a short answer checked
against them, or "I could not find this in the indexed documents."; see docs/grounded-answers.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from haystack import Pipeline
from haystack.document_stores.in_memory import InMemoryDocumentStore

HERE = Path(__file__).resolve().parent
NOTES = HERE.parent / "notes"
QUESTION = "What are the steps for creating a custom component?"


@dataclass
class Answer:
    """What the query pipeline produced."""

    question: str
    answer: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def load_pipeline(name: str) -> Pipeline:
    """Load ``<name>.yaml`` from this folder with ``Pipeline.loads`` (default allowlist)."""
    return Pipeline.loads((HERE / f"{name}.yaml").read_text(encoding="utf-8"))


def note_files(folder: Path) -> list[Path]:
    """The ``.md`` and ``.txt`` files of ``folder`` (recursively), sorted.

    :raises SystemExit: if the folder does not exist or holds no notes.
    """
    if not folder.is_dir():
        raise SystemExit(f"error: {folder} is not a folder of notes")
    files = sorted(p for p in folder.rglob("*") if p.suffix in {".md", ".txt"} and p.is_file())
    if not files:
        raise SystemExit(f"error: {folder} holds no .md or .txt files")
    return files


def _store(pipeline: Pipeline, component: str) -> InMemoryDocumentStore:
    store = pipeline.get_component(component).document_store  # type: ignore[attr-defined]
    assert isinstance(store, InMemoryDocumentStore)
    return store


def index_notes(folder: Path = NOTES) -> int:
    """Run ``indexing.yaml`` over ``folder``; returns the number of passages written.

    The store is emptied first: embeddings of another provider or model are not comparable.
    """
    indexing = load_pipeline("indexing")
    _store(indexing, "writer").delete_all_documents()
    try:
        result = indexing.run({"converter": {"sources": note_files(folder)}})
    finally:
        indexing.close()
    return int(result["writer"]["documents_written"])


def ask(question: str = QUESTION, *, max_tokens: int | None = None) -> Answer:
    """Run ``query.yaml`` (the blog post's RAG pipeline) on the indexed notes.

    :param max_tokens: override the YAML's ``generation_kwargs.max_tokens`` for this run.
    """
    query = load_pipeline("query")
    data: dict[str, dict[str, Any]] = {"text_embedder": {"text": question}, "prompt_builder": {"query": question}}
    if max_tokens is not None:
        data["generator"] = {"generation_kwargs": {"max_tokens": max_tokens}}
    try:
        result = query.run(data, include_outputs_from={"retriever"})
    finally:
        query.close()
    sources = [
        {"file": Path(str(doc.meta.get("file_path", "?"))).name, "score": doc.score, "passage": doc.content}
        for doc in result["retriever"]["documents"]
    ]
    return Answer(
        question=question,
        answer=result["generator"]["replies"][0].strip(),
        sources=sources,
        meta=result["generator"]["meta"][0],
    )


def ask_grounded(question: str = QUESTION, *, max_tokens: int | None = None) -> Answer:
    """Run ``grounded_query.yaml`` on the indexed notes: the answer rests on evidence sentences
    (``meta["evidence"]``, each with its source) or is "I could not find this in the indexed
    documents."; ``meta["status"]`` is ``generated``, ``extracted`` or ``not_found``.

    :param max_tokens: override the YAML's ``generation_kwargs.max_tokens`` for this run.
    """
    query = load_pipeline("grounded_query")
    data: dict[str, dict[str, Any]] = {
        "text_embedder": {"text": question},
        "evidence": {"question": question},
        "grounder": {"question": question},
    }
    if max_tokens is not None:
        data["generator"] = {"generation_kwargs": {"max_tokens": max_tokens}}
    try:
        result = query.run(data, include_outputs_from={"retriever", "generator"})
    finally:
        query.close()
    answer = result["grounder"]["answers"][0]
    replies = (result.get("generator") or {}).get("replies") or []
    sources = [
        {"file": Path(str(doc.meta.get("file_path", "?"))).name, "score": doc.score, "passage": doc.content}
        for doc in result["retriever"]["documents"]
    ]
    meta: dict[str, Any] = dict(replies[0].meta) if replies else {}
    meta.update(
        status=answer.meta["status"],
        evidence=[{"text": d.content, "source": d.meta.get("evidence_source")} for d in answer.documents],
    )
    return Answer(question=question, answer=answer.data, sources=sources, meta=meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notes", type=Path, default=NOTES, help="folder of .md/.txt notes (default: %(default)s)")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--max-tokens", type=int, default=None, help="override the YAML's max_tokens")
    parser.add_argument("--json", action="store_true", help="print the answer and its sources as JSON")
    parser.add_argument("--grounded", action="store_true", help="use grounded_query.yaml (evidence, checked answer)")
    args = parser.parse_args(argv)

    written = index_notes(args.notes)
    answer = (ask_grounded if args.grounded else ask)(args.question, max_tokens=args.max_tokens)
    if args.json:
        print(json.dumps({"passages": written, **asdict(answer)}, indent=2, default=str))
        return 0
    print(f"Indexed {written} passages from {args.notes}.\n")
    print(f"Q: {answer.question}\nA: {answer.answer}\n")
    for item in answer.meta.get("evidence", []):
        print(f'Evidence: "{item["text"]}" ({item["source"]})')
    print(f"(provider: {answer.meta.get('provider')}, model: {answer.meta.get('model')})")
    print("Sources:")
    for source in answer.sources:
        first_line = source["passage"].strip().splitlines()[0][:80]
        print(f"  - {source['file']} (score {source['score']:.3f}): {first_line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
