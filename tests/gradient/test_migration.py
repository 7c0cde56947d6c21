"""Migration from gradient-haystack 0.4.0: the blog post's RAG pipeline runs with only its import
lines changed (on cassettes), the drop-in components serialise, and the old bugs are fixed."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from gradient_emulator import EmulatorServer
from gradient_support import CASSETTES, FAKE_TOKEN, FAKE_WORKSPACE, live_recording, recorded_host
from haystack import Document, Pipeline
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import Secret as HaystackSecret

import hayswitch
from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderGenerator
from hayswitch import NO_RETRY, ConfigurationError, EmbeddingFailedError, MissingSecretError, SettingsError
from hayswitch.testing import REDACTED, use_cassette
from hayswitch_gradient import GradientDocumentEmbedder, GradientGenerator, GradientProvider, GradientTextEmbedder

BLOG_TOKEN = "YOUR_GRADIENT_ACCESS_TOKEN"
BLOG_WORKSPACE = "YOUR_WORKSPACE_ID"

# The code block of "Use Gradient Models with Haystack Pipelines" (haystack.deepset.ai blog,
# 2023-12-11), verbatim except the two gradient_haystack import lines (marked). It expects a
# `document_store` and `Pipeline` from earlier cells of the post's Colab.
BLOG_CODE = '''
from haystack.components.retrievers import InMemoryEmbeddingRetriever
from haystack.components.builders import PromptBuilder
from hayswitch_gradient import GradientTextEmbedder  # was: gradient_haystack.embedders.gradient_text_embedder
from hayswitch_gradient import GradientGenerator  # was: gradient_haystack.generator.base

prompt = """ Answer the query, based on the
content in the documents.

Documents:
{% for doc in documents %}
  {{doc.content}}
{% endfor %}

Query: {{query}}
"""
text_embedder = GradientTextEmbedder(access_token='YOUR_GRADIENT_ACCESS_TOKEN',
\t\t\t\t                             workspace_id="YOUR_WORKSPACE_ID",)
retriever = InMemoryEmbeddingRetriever(document_store=document_store)
prompt_builder = PromptBuilder(template=prompt)
generator = GradientGenerator(access_token='YOUR_GRADIENT_ACCESS_TOKEN',
                              workspace_id="YOUR_WORKSPACE_ID",
                              model_adapter_id="your_finetuned_model_adapter_id",
                              max_generated_token_count=350)

rag_pipeline = Pipeline()

rag_pipeline.add_component(instance=text_embedder, name="text_embedder")
rag_pipeline.add_component(instance=retriever, name="retriever")
rag_pipeline.add_component(instance=prompt_builder, name="prompt_builder")
rag_pipeline.add_component(instance=generator, name="generator")

rag_pipeline.connect("text_embedder", "retriever")
rag_pipeline.connect("retriever.documents", "prompt_builder.documents")
rag_pipeline.connect("prompt_builder", "generator")
'''

BLOG_RUN = """
question = "What are the steps for creating a custom component?"
rag_pipeline.run(data={"text_embedder":{"text": question},
                                "prompt_builder":{"query": question}})
"""

NOTION_PAGES = [
    "To create a custom component, write a class, decorate it with @component and give it a run method.",
    "A custom component declares its outputs with @component.output_types.",
    "Pipelines connect components; data flows along the connections.",
    "The InMemoryDocumentStore keeps documents in memory for quick experiments.",
    "Gradient hosts embedding and fine-tuned generation models.",
]
TRAINING = [
    "Answer the query, based on the content in the documents. Steps for a custom component: "
    "1. write a class 2. decorate it with @component 3. add a run method with output types.",
]


@pytest.fixture
def blog_env(
    cassette_env: dict[str, str], record_emulator: EmulatorServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blog's placeholder credentials are the ones the (recording) emulator accepts."""
    if record_emulator is not None:
        record_emulator.configure(
            access_tokens=[FAKE_TOKEN, BLOG_TOKEN], workspace_ids=[FAKE_WORKSPACE, BLOG_WORKSPACE]
        )
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", BLOG_TOKEN)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", BLOG_WORKSPACE)
    monkeypatch.setenv("GRADIENT_API_URL", recorded_host())


@pytest.mark.cassette
@pytest.mark.usefixtures("blog_env")
def test_blog_pipeline_runs_with_only_the_imports_changed() -> None:
    if live_recording():
        pytest.skip("the blog's placeholder credentials only exist on the emulator; record this one against it")
    with use_cassette(GradientProvider, CASSETTES, "blog_pipeline"):
        # The post's prerequisites: a fine-tuned adapter and an indexed document store.
        tuner = hayswitch.get_provider("gradient", retry=NO_RETRY)
        adapter = tuner.create_adapter(base_model="llama2-7b-chat", name="notion-qa")  # type: ignore[attr-defined]
        tuner.fine_tune(adapter.id, TRAINING, progress_bar=False)  # type: ignore[attr-defined]
        document_store = InMemoryDocumentStore()
        indexer = GradientDocumentEmbedder(access_token=BLOG_TOKEN, workspace_id=BLOG_WORKSPACE, progress_bar=False)
        indexed = indexer.run([Document(content=page) for page in NOTION_PAGES])["documents"]
        assert all(doc.embedding is not None and len(doc.embedding) == 1024 for doc in indexed)
        document_store.write_documents(indexed)

        # The blog's code; only the adapter id placeholder is filled in with the adapter made above.
        namespace: dict[str, Any] = {"document_store": document_store, "Pipeline": Pipeline}
        exec(BLOG_CODE.replace("your_finetuned_model_adapter_id", adapter.id), namespace)
        exec("result = " + BLOG_RUN.strip().split("\n", 1)[1], {**namespace, "question": _question()}, namespace)

    result = namespace["result"]
    reply = result["generator"]["replies"][0]
    # The emulator's adapter answers by restating the prompt's last line, under the adapter's name.
    assert reply.strip() == f"notion-qa answers: Query: {_question()}"
    assert result["generator"]["meta"][0]["model"] == adapter.id
    pipeline = namespace["rag_pipeline"]
    retrieved = pipeline.get_component("retriever")
    assert retrieved is not None


def _question() -> str:
    return "What are the steps for creating a custom component?"


def test_blog_code_only_changes_import_lines() -> None:
    changed = [line for line in BLOG_CODE.splitlines() if "gradient_haystack" in line]
    assert len(changed) == 2
    assert all(line.startswith("from hayswitch_gradient import ") for line in changed)


def test_init_parameters_match_gradient_haystack_0_4_0() -> None:
    def params(cls: type) -> set[str]:
        return set(inspect.signature(cls.__init__).parameters) - {"self"}

    assert params(GradientDocumentEmbedder) == {
        "model",
        "batch_size",
        "access_token",
        "workspace_id",
        "host",
        "progress_bar",
    }
    assert params(GradientTextEmbedder) == {"model", "access_token", "workspace_id", "host"}
    assert params(GradientGenerator) == {
        "access_token",
        "base_model_slug",
        "host",
        "max_generated_token_count",
        "model_adapter_id",
        "temperature",
        "top_k",
        "top_p",
        "workspace_id",
    }
    assert issubclass(GradientDocumentEmbedder, ProviderDocumentEmbedder)
    assert issubclass(GradientTextEmbedder, ProviderTextEmbedder)
    assert issubclass(GradientGenerator, ProviderGenerator)


def test_construction_resolves_no_secret_and_pipelines_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADIENT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("GRADIENT_WORKSPACE_ID", raising=False)
    pipeline = Pipeline()
    pipeline.add_component("docs", GradientDocumentEmbedder(batch_size=64, progress_bar=False))
    pipeline.add_component("query", GradientTextEmbedder(host="http://127.0.0.1:9/api"))
    pipeline.add_component(
        "llm",
        GradientGenerator(
            base_model_slug="nous-hermes2",
            max_generated_token_count=100,
            temperature=0.2,
            top_k=20,
            top_p=0.9,
            access_token=HaystackSecret.from_env_var("MY_GRADIENT_TOKEN"),
        ),
    )
    text = pipeline.dumps()
    assert "MY_GRADIENT_TOKEN" in text
    loaded = Pipeline.loads(text)
    assert loaded.to_dict() == pipeline.to_dict()
    llm = loaded.get_component("llm")
    assert isinstance(llm, GradientGenerator)
    assert (llm.top_k, llm.max_generated_token_count) == (20, 100)
    with pytest.raises(MissingSecretError):
        loaded.get_component("docs").warm_up()  # secrets are read at warm-up, naming the variable


def test_literal_token_works_but_refuses_serialisation() -> None:
    embedder = GradientTextEmbedder(access_token="a-literal-token", workspace_id="ws")
    with pytest.raises(ConfigurationError) as excinfo:
        embedder.to_dict()
    assert "a-literal-token" not in str(excinfo.value)


def test_generator_needs_exactly_one_model() -> None:
    with pytest.raises(ValueError):
        GradientGenerator()
    with pytest.raises(SettingsError):
        GradientGenerator(base_model_slug="nous-hermes2", model_adapter_id="x" * 50)
    with pytest.raises(SettingsError):
        GradientGenerator(model_adapter_id="your_finetuned_model_adapter_id")  # not a 50-character id


@pytest.mark.live
def test_batch_size_is_honoured_without_a_progress_bar(live_emulator: EmulatorServer) -> None:
    embedder = GradientDocumentEmbedder(batch_size=2, progress_bar=False)
    docs = [Document(content=f"document number {i}") for i in range(5)]
    out = embedder.run(docs)["documents"]
    assert sorted(live_emulator.stats()["embed_batch_sizes"]) == [1, 2, 2]
    from gradient_emulator import embedding

    for doc in out:  # every document got the vector of its own text
        assert doc.embedding == pytest.approx(list(embedding(doc.content or "")))
    assert all(d.embedding is None for d in docs)  # inputs are not mutated


@pytest.mark.live
def test_failed_batch_is_an_error_not_a_silent_none(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="500", contains="poison")
    embedder = GradientDocumentEmbedder(batch_size=1, progress_bar=False)
    embedder.retry = NO_RETRY
    docs = [Document(content="fine"), Document(content="poison pill"), Document(content="also fine")]
    with pytest.raises(EmbeddingFailedError) as excinfo:
        embedder.run(docs)
    assert excinfo.value.failed_ids == [docs[1].id]


@pytest.mark.live
def test_text_embedder_and_generator_outputs(live_emulator: EmulatorServer) -> None:
    embedding = GradientTextEmbedder().run("hello")["embedding"]
    assert len(embedding) == 1024
    out = GradientGenerator(base_model_slug="nous-hermes2", max_generated_token_count=3).run("a b c d e")
    assert out["replies"] == [" nous-hermes2"]  # three tokens: "nous", "-", "hermes2"
    assert out["meta"][0]["finish_reason"] == "length"


def test_cassettes_hold_no_credentials() -> None:
    files = sorted(Path(CASSETTES).glob("*.hayswitch.yaml"))
    assert files, "no gradient cassettes recorded"
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert f"- {REDACTED}" in text, f"{path.name}: no scrubbed header"
        for secret in (FAKE_TOKEN, FAKE_WORKSPACE, BLOG_TOKEN, BLOG_WORKSPACE, "Bearer "):
            assert secret not in text, f"{path.name} holds a credential"


OLD_PIPELINE = Path(__file__).parent / "data" / "gradient_haystack_0_4_0_pipeline.yaml"
"""Dumped by gradient-haystack 0.4.0 itself (bench/.venv-peer), with its own component types."""


@pytest.mark.live
def test_pipeline_serialised_by_gradient_haystack_0_4_0_loads_and_runs(live_emulator: EmulatorServer) -> None:
    pipeline = Pipeline.loads(OLD_PIPELINE.read_text(encoding="utf-8"))
    generator = pipeline.get_component("generator")
    assert isinstance(generator, GradientGenerator)
    assert (generator.base_model_slug, generator.top_k, generator.max_generated_token_count) == (
        "llama2-7b-chat",
        20,
        350,
    )
    embedder = pipeline.get_component("doc_embedder")
    assert isinstance(embedder, GradientDocumentEmbedder)
    assert (embedder.batch_size, embedder.progress_bar) == (128, False)
    result = pipeline.run(
        {
            "prompt_builder": {"query": "What is Gradient?"},
            "doc_embedder": {"documents": [Document(content="hello")]},
            "text_embedder": {"text": "hello"},
        }
    )
    assert result["generator"]["replies"] == [" llama2-7b-chat answers: Answer: What is Gradient?"]
    assert result["doc_embedder"]["documents"][0].embedding == result["text_embedder"]["embedding"]
