"""gradient-haystack 0.4.0's ``tests/test_gradient_rag_pipelines.py`` (skipped there without real
Gradient credentials), run against the drop-ins on the Gradient emulator. ``README.md`` says where
it differs (no ``draw``, env-var secrets, the emulator is not a language model)."""

from __future__ import annotations

import json
from pathlib import Path

from gradient_emulator import EmulatorServer
from haystack import Document, Pipeline
from haystack.components.builders.answer_builder import AnswerBuilder
from haystack.components.builders.prompt_builder import PromptBuilder
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore
from peer_support import served

from haystack_integrations.components.embedders.gradient import GradientDocumentEmbedder, GradientTextEmbedder
from haystack_integrations.components.generators.gradient import GradientGenerator


def test_gradient_embedding_retrieval_rag_pipeline(tmp_path: Path, emulator: EmulatorServer) -> None:
    # Create the RAG pipeline
    prompt_template = """
    Given these documents, answer the question.\nDocuments:
    {% for doc in documents %}
        {{ doc.content }}
    {% endfor %}
    \nQuestion: {{question}}
    \nAnswer:
    """

    rag_pipeline = Pipeline()
    embedder = GradientTextEmbedder()
    rag_pipeline.add_component(instance=embedder, name="text_embedder")
    rag_pipeline.add_component(
        instance=InMemoryEmbeddingRetriever(document_store=InMemoryDocumentStore()), name="retriever"
    )
    rag_pipeline.add_component(instance=PromptBuilder(template=prompt_template), name="prompt_builder")
    rag_pipeline.add_component(instance=GradientGenerator(base_model_slug="llama2-7b-chat"), name="llm")
    rag_pipeline.add_component(instance=AnswerBuilder(), name="answer_builder")
    rag_pipeline.connect("text_embedder", "retriever")
    rag_pipeline.connect("retriever", "prompt_builder.documents")
    rag_pipeline.connect("prompt_builder", "llm")
    rag_pipeline.connect("llm.replies", "answer_builder.replies")
    rag_pipeline.connect("retriever", "answer_builder.documents")

    # Serialize the pipeline to JSON
    with open(tmp_path / "test_bm25_rag_pipeline.json", "w") as f:
        json.dump(rag_pipeline.to_dict(), f)

    # Load the pipeline back
    with open(tmp_path / "test_bm25_rag_pipeline.json") as f:
        rag_pipeline = Pipeline.from_dict(json.load(f))

    # Populate the document store
    documents = [
        Document(content="My name is Jean and I live in Paris."),
        Document(content="My name is Mark and I live in Berlin."),
        Document(content="My name is Giorgio and I live in Rome."),
    ]
    document_store = rag_pipeline.get_component("retriever").document_store
    indexing_pipeline = Pipeline()
    indexing_pipeline.add_component(instance=GradientDocumentEmbedder(), name="document_embedder")
    indexing_pipeline.add_component(instance=DocumentWriter(document_store=document_store), name="document_writer")
    indexing_pipeline.connect("document_embedder", "document_writer")
    indexing_pipeline.run({"document_embedder": {"documents": documents}})
    stored = document_store.filter_documents()
    assert len(stored) == 3
    assert all(doc.embedding is not None and len(doc.embedding) == 1024 for doc in stored)

    # Query and assert
    questions = ["Who lives in Paris?", "Who lives in Berlin?", "Who lives in Rome?"]

    for question in questions:
        result = rag_pipeline.run(
            {
                "text_embedder": {"text": question},
                "prompt_builder": {"question": question},
                "answer_builder": {"query": question},
            }
        )

        assert len(result["answer_builder"]["answers"]) == 1
        generated_answer = result["answer_builder"]["answers"][0]
        # The emulator is not a language model: it restates the prompt's last line (see README).
        assert generated_answer.data == " llama2-7b-chat answers: Answer:"
        assert generated_answer.query == question
        assert hasattr(generated_answer, "documents")
        assert len(generated_answer.documents) == 3
        assert hasattr(generated_answer, "meta")

    operations = [r["operation"] for r in served(emulator)]
    # One indexing request; per question one query embedding and one completion; the base model's
    # id is looked up once.
    assert operations.count("embed") == 1 + len(questions)
    assert operations.count("complete") == len(questions)
    assert operations.count("list_models") == 1
