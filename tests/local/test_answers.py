"""Grounded answers with the real default models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2) on the
QA fixture (tests/fixtures/qa): the fact is in the answer, its source is cited, and a question
the corpus does not answer gets the not-found message. The full measurement is bench/qa_bench.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hayswitch import Provider
from hayswitch.answering import NOT_FOUND

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "qa"

# A sample of both question sets (the bench runs all of them); chosen to cover numbers, names,
# a heading-only subject and a paraphrase, not for being easy.
SAMPLE = [
    ("How long does Glimmerfen cheese mature?", ["fourteen months", "14 months"], "glimmerfen-cheese.txt"),
    ("Who is the safety officer of the Orbis Robotics Lab?", ["Keiko Althaus"], "orbis-lab.md"),
    ("Which port do Zentrix nodes listen on by default?", ["7461"], "zentrix-protocol.txt"),
    ("How wide is the mirror of the Wren telescope?", ["2.4 metres", "2.4 m"], "tarnholt-observatory.md"),
]
UNANSWERABLE = ["Who painted the Mona Lisa?", "What is the speed of light in a vacuum?"]


@pytest.fixture(scope="module")
def qa_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder
    from hayswitch.cli.ingest import build_preprocessing_pipeline, read_file, split_files
    from hayswitch.cli.store import collect_files

    files, _ = collect_files([FIXTURE / "corpus"])
    read = []
    for path in files:
        corpus_file = read_file(path)
        assert not isinstance(corpus_file, str), corpus_file
        read.append(corpus_file)
    documents = [doc for docs in split_files(build_preprocessing_pipeline(), read).values() for doc in docs]
    embedder = ProviderDocumentEmbedder(provider="local", meta_fields_to_embed=["heading"], progress_bar=False)
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    store.write_documents(embedder.run(documents=documents)["documents"])
    embedder.close()
    return store


@pytest.mark.slow
def test_grounded_answers_on_the_local_models(qa_store: Any, local_provider: Provider) -> None:
    from hayswitch.cli.answer import build_answer_pipeline, grounded_answer
    from hayswitch.cli.ask import build_rag_pipeline

    retrieval = build_rag_pipeline(qa_store, provider="local")
    answering = build_answer_pipeline(provider="local")
    try:
        for question, expected, source in SAMPLE:
            documents = retrieval.run({"text_embedder": {"text": question}})["retriever"]["documents"]
            result = grounded_answer(question, documents, pipeline=answering)
            assert result.status in {"generated", "extracted"}, (question, result)
            assert any(e.lower() in result.answer.lower() for e in expected), (question, result)
            assert result.evidence[0]["file"].endswith(source)
            assert result.evidence[0]["source"].endswith("passage 1") or "passage" in result.evidence[0]["source"]
            if result.status == "generated":
                assert result.model == "SmolLM2-135M-Instruct"
                assert result.usage["completion_tokens"] <= 64
            else:
                assert result.reason  # a rejected reply always says why
        for question in UNANSWERABLE:
            documents = retrieval.run({"text_embedder": {"text": question}})["retriever"]["documents"]
            result = grounded_answer(question, documents, pipeline=answering)
            assert (result.answer, result.status, result.usage) == (NOT_FOUND, "not_found", {}), question
    finally:
        retrieval.get_component("text_embedder").close()
        for name in ("evidence", "llm"):
            answering.get_component(name).close()


@pytest.mark.slow
def test_ask_cli_cites_the_evidence_on_the_local_models(tmp_path: Path, local_provider: Provider) -> None:
    from hayswitch.cli import build_app

    runner = CliRunner()
    store = tmp_path / "qa.json"
    indexed = runner.invoke(build_app(), ["index", str(FIXTURE / "corpus"), "--store", str(store), "-q"])
    assert indexed.exit_code == 0, indexed.output
    result = runner.invoke(build_app(), ["ask", "When was the first Kettle Cup held?", "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert "1884" in payload["answer"]
    assert payload["evidence"][0]["file"].endswith("kettle-cup.md")
    assert "1884" in payload["evidence"][0]["text"]
    plain = runner.invoke(build_app(), ["ask", "How many moons does Jupiter have?", "--store", str(store)])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.startswith(NOT_FOUND)
