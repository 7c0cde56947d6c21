"""``hayswitch ask``: answer a question from an index built by ``hayswitch index``.

Retrieval is made of the generic components only, so any installed provider works::

    ProviderTextEmbedder -> InMemoryEmbeddingRetriever

The question is embedded with the provider (and model) the index was built with; any other
embedding space is refused before anything is generated. The answer is then written by
:func:`hayswitch.cli.answer.grounded_answer` (evidence sentences, a short generated answer checked
against them, or "not found").
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from hayswitch.cli._common import EXIT_INPUT, fail, friendly_errors, read_only_work

# Haystack sends usage telemetry when a pipeline runs; these commands run offline unless the user
# opted in explicitly (the Chroma client is created with anonymized_telemetry=False as well).
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_TOP_K", "Answer", "answer_question", "build_rag_pipeline", "register"]

DEFAULT_TOP_K = 3
DEFAULT_MAX_TOKENS = 64


@dataclass
class Answer:
    """The outcome of :func:`answer_question`."""

    question: str
    answer: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    provider: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    status: str = "generated"
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "evidence": self.evidence,
            "sources": self.sources,
            "model": self.model,
            "provider": self.provider,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "seconds": round(self.seconds, 3),
        }


def build_rag_pipeline(
    document_store: Any,
    *,
    provider: str | None = None,
    profile: str | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Any:
    """The retrieval pipeline over ``document_store`` (an ``InMemoryDocumentStore``) with the
    generic hayswitch embedder, bound to the provider or profile the index was built with.

    Input: ``text_embedder.text``; output: ``retriever.documents``. The answer is written from the
    retrieved documents by :func:`hayswitch.cli.answer.grounded_answer`.
    """
    from haystack import Pipeline
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever

    from haystack_integrations.components.embedders.hayswitch import ProviderTextEmbedder

    pipeline = Pipeline()
    pipeline.add_component("text_embedder", ProviderTextEmbedder(provider=provider, profile=profile))
    pipeline.add_component("retriever", InMemoryEmbeddingRetriever(document_store=document_store, top_k=top_k))
    pipeline.connect("text_embedder.embedding", "retriever.query_embedding")
    return pipeline


@dataclass
class Retrieval:
    """The outcome of :func:`retrieve_passages`: the closest passages, best first, with their
    cosine similarity in ``score`` (None where the store held an unusable vector), and the
    sources as shown to users."""

    documents: list[Any]
    sources: list[dict[str, Any]]
    embedding: dict[str, Any]
    seconds: float = 0.0


def _source(doc: Any) -> dict[str, Any]:
    score = doc.score if isinstance(doc.score, (int, float)) and math.isfinite(doc.score) else None
    source: dict[str, Any] = {
        "file": doc.meta.get("file_path"),
        "passage": doc.meta.get("passage"),
        "score": round(float(score), 4) if score is not None else None,
    }
    if doc.meta.get("page_number") is not None:
        source["page"] = doc.meta["page_number"]
    return source


def retrieve_passages(
    question: str,
    *,
    store_path: Path | str,
    provider: str | None = None,
    profile: str | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Retrieval:
    """Embed ``question`` and fetch the ``top_k`` closest passages from the store (retrieval only,
    no generation).

    The store is opened and its embedding space checked before the question is embedded; each
    shard of the store is searched through Haystack's ``ChromaEmbeddingRetriever``.

    :raises InvalidInputError: missing, unreadable or empty store.
    :raises EmbeddingMismatchError: the configured embedder is not the one the store was built with.
    """
    from haystack_integrations.components.embedders.hayswitch import ProviderTextEmbedder
    from hayswitch.cli.store import PassageStore, StoreError, StoreLocation, check_embedding_space

    started = time.perf_counter()
    location = StoreLocation.parse(store_path)
    store = PassageStore.open(location)
    space = store.space()
    empty = f"The store {location} holds no passages. Index some files first: hayswitch index <folder>"
    if space is None:  # (nothing was ever committed)
        raise StoreError(empty)
    text_embedder = ProviderTextEmbedder(provider=provider, profile=profile)
    text_embedder.warm_up()
    instance = text_embedder.provider_instance
    if instance is None:  # pragma: no cover - warm_up() either sets it or raises
        raise StoreError("The text embedder has no provider after warm-up.")
    try:
        current = dict(instance.embedding_space())
        check_embedding_space(space, current, location.spec)
        embedding = text_embedder.run(text=question)["embedding"]
    finally:
        text_embedder.close()
    # A provider may learn its dimension from its first response: check it now, before searching.
    check_embedding_space(space, {**current, "dimension": len(embedding)}, location.spec)
    # (chroma-haystack warns that the collection exists with other metadata: ours records the
    # embedding space there, which the retriever does not need.)
    logging.getLogger("haystack_integrations.document_stores.chroma").setLevel(logging.ERROR)
    found = store.search(embedding, top_k)
    if not found:  # (every file was removed since)
        raise StoreError(empty)
    documents = [dataclasses.replace(doc, score=store.similarity(doc.score)) for doc in found]
    return Retrieval(
        documents=documents,
        sources=[_source(d) for d in documents],
        embedding={k: v for k, v in space.items() if k != "splitter"},
        seconds=time.perf_counter() - started,
    )


def answer_question(
    question: str,
    *,
    store_path: Path | str,
    provider: str | None = None,
    profile: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    on_token: Any = None,
) -> Answer:
    """Answer ``question`` from the index at ``store_path`` (the work behind ``hayswitch ask``).

    :param on_token: called with the answer text once it has been checked against its evidence
        (``--stream``), or None.
    :raises InvalidInputError: empty question, missing or corrupt index, an empty index.
    :raises EmbeddingMismatchError: the configured embedder is not the one the index was built with.
    :raises HayswitchError: provider configuration or generation failures.
    """
    from hayswitch.cli.answer import grounded_answer
    from hayswitch.errors import InvalidInputError

    started = time.perf_counter()
    question = question.strip()
    if not question:
        raise InvalidInputError('The question is empty. Ask something, e.g. hayswitch ask "How do I install it?"')
    retrieval = retrieve_passages(question, store_path=store_path, provider=provider, profile=profile, top_k=top_k)
    documents = retrieval.documents
    sources = retrieval.sources
    grounded = grounded_answer(
        question, documents, provider=provider, profile=profile, max_tokens=max_tokens, on_token=on_token
    )
    return Answer(
        question=question,
        answer=grounded.answer,
        sources=sources,
        model=grounded.model,
        provider=grounded.provider,
        finish_reason=grounded.finish_reason,
        usage=grounded.usage,
        seconds=time.perf_counter() - started,
        status=grounded.status,
        evidence=grounded.evidence,
    )


def _unwrap_pipeline_error(exc: BaseException) -> BaseException:
    """Haystack wraps component errors in PipelineRuntimeError; surface the hayswitch error."""
    from hayswitch.errors import HayswitchError

    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, HayswitchError):
            return current
        current = current.__cause__
    return exc


def register(app: typer.Typer) -> None:
    """Add ``hayswitch ask`` to ``app``."""
    from hayswitch.cli.store import DEFAULT_STORE

    @app.command("ask")
    def ask_command(
        question: str = typer.Argument(..., help="The question, in quotes."),
        store: str = typer.Option(
            str(DEFAULT_STORE), "--store", "-s", help="The store built by 'hayswitch index' (a folder or a server URL)."
        ),
        top_k: int = typer.Option(DEFAULT_TOP_K, "--top-k", "-k", min=1, max=50, help="Passages given to the model."),
        provider: str | None = typer.Option(None, "--provider", "-p", help="Provider (default: configured)."),
        profile: str | None = typer.Option(None, "--profile", help="A profile of hayswitch.toml."),
        max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, "--max-tokens", min=1, help="Longest answer, in tokens."),
        stream: bool = typer.Option(
            False, "--stream", help="Print the answer as soon as it has been checked against its evidence."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON object (answer, sources, model, usage)."),
    ) -> None:
        """Answer a question from your indexed documents, citing the passages used."""
        if provider and profile:
            raise fail("pass either --provider or --profile, not both.", EXIT_INPUT)
        if stream and as_json:
            raise fail(
                "--stream and --json cannot be combined (JSON is printed once the answer is complete).", EXIT_INPUT
            )
        if not question.strip():
            raise fail('the question is empty. Example: hayswitch ask "How do I install it?"', EXIT_INPUT)

        # The CLI reports a cut answer itself (below), in words that fit the command line.
        logging.getLogger("haystack_integrations.hayswitch").setLevel(logging.ERROR)

        def on_token(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        with friendly_errors(), read_only_work():
            try:
                answer = answer_question(
                    question,
                    store_path=store,
                    provider=provider,
                    profile=profile,
                    top_k=top_k,
                    max_tokens=max_tokens,
                    on_token=on_token if stream else None,
                )
            except Exception as exc:
                unwrapped = _unwrap_pipeline_error(exc)
                if unwrapped is exc:
                    raise
                raise unwrapped from None
        if as_json:
            typer.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False, allow_nan=False))
            return
        if stream:
            typer.echo("")
        else:
            typer.echo(answer.answer)
        if answer.status == "generated" and answer.finish_reason == "length":
            typer.secho(
                f"(the answer was cut at {max_tokens} tokens; pass --max-tokens for longer answers)",
                fg=typer.colors.YELLOW,
                err=True,
            )
        if answer.status == "extracted":  # the answer is the evidence itself: name where it is from
            typer.echo("\nFrom: " + "; ".join(dict.fromkeys(item["source"] for item in answer.evidence)))
        elif answer.evidence:
            typer.echo("\nEvidence:")
            for item in answer.evidence:
                typer.echo(f'  "{item["text"]}" ({item["source"]})')
        typer.echo("\nSources:")
        for i, source in enumerate(answer.sources, 1):
            score = f" (score {source['score']:.2f})" if source.get("score") is not None else ""
            page = f", page {source['page']}" if source.get("page") is not None else ""
            typer.echo(f"  [{i}] {source['file']}{page}, passage {source['passage']}{score}")
