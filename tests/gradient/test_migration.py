"""Migration from gradient-haystack 0.4.0: the blog post's RAG pipeline runs with only its import
lines changed (on cassettes), the drop-in components keep 0.4.0's parameters and serialisation, and
a pipeline file written by 0.4.0 loads and runs. (0.4.0's own unit tests, rewritten against the
drop-ins, are in ``tests/gradient/peer``.)"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from gradient_emulator import EmulatorServer
from gradient_support import CASSETTES, FAKE_TOKEN, FAKE_WORKSPACE, live_recording, recorded_host
from haystack import Document, Pipeline
from haystack.core.errors import DeserializationError
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import Secret as HaystackSecret

import hayswitch
from hayswitch import NO_RETRY, ServerError, SettingsError
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
        indexer.warm_up()
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
    assert set(result["generator"]) == {"replies"}  # 0.4.0's only output
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
    def params(cls: type) -> dict[str, Any]:
        signature = inspect.signature(cls.__init__)  # type: ignore[misc]
        return {
            name: p.default.to_dict() if isinstance(p.default, HaystackSecret) else p.default
            for name, p in signature.parameters.items()
            if name != "self"
        }

    token = {"type": "env_var", "env_vars": ["GRADIENT_ACCESS_TOKEN"], "strict": True}
    workspace = {"type": "env_var", "env_vars": ["GRADIENT_WORKSPACE_ID"], "strict": True}
    # gradient-haystack 0.4.0's parameters and defaults (all keyword-only there and here).
    assert params(GradientDocumentEmbedder) == {
        "model": "bge-large",
        "batch_size": 32_768,
        "access_token": token,
        "workspace_id": workspace,
        "host": None,
        "progress_bar": True,
    }
    assert params(GradientTextEmbedder) == {
        "model": "bge-large",
        "access_token": token,
        "workspace_id": workspace,
        "host": None,
    }
    assert params(GradientGenerator) == {
        "access_token": token,
        "base_model_slug": None,
        "host": None,
        "max_generated_token_count": None,
        "model_adapter_id": None,
        "temperature": None,
        "top_k": None,
        "top_p": None,
        "workspace_id": workspace,
    }
    for cls in (GradientDocumentEmbedder, GradientTextEmbedder, GradientGenerator):
        kinds = {p.kind for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"}  # type: ignore[misc]
        assert kinds == {inspect.Parameter.KEYWORD_ONLY}


def test_pipelines_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "token")
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "workspace")
    monkeypatch.setenv("MY_GRADIENT_TOKEN", "another token")
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
    assert "another token" not in text
    loaded = Pipeline.loads(text)
    assert loaded.to_dict() == pipeline.to_dict()
    llm = loaded.get_component("llm")
    assert isinstance(llm, GradientGenerator)
    assert (llm.top_k, llm.max_generated_token_count) == (20, 100)
    monkeypatch.delenv("MY_GRADIENT_TOKEN")
    with pytest.raises(DeserializationError, match="MY_GRADIENT_TOKEN") as excinfo:  # read in __init__, as in 0.4.0
        Pipeline.loads(text)
    assert isinstance(excinfo.value.__cause__, ValueError)


def test_literal_token_works_but_refuses_serialisation() -> None:
    embedder = GradientTextEmbedder(access_token="a-literal-token", workspace_id="ws")
    with pytest.raises(ValueError) as excinfo:
        embedder.to_dict()
    assert "a-literal-token" not in str(excinfo.value)


def test_generator_needs_exactly_one_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "token")
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "workspace")
    with pytest.raises(ValueError):
        GradientGenerator()
    with pytest.raises(ValueError):
        GradientGenerator(base_model_slug="nous-hermes2", model_adapter_id="x" * 50)
    # The adapter id's format is checked where 0.4.0 checked it: at warm_up().
    generator = GradientGenerator(model_adapter_id="your_finetuned_model_adapter_id")
    with pytest.raises(SettingsError):
        generator.warm_up()


@pytest.mark.live
def test_failed_batch_is_an_error_not_a_silent_none(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="500", contains="poison")
    embedder = GradientDocumentEmbedder(batch_size=1)
    embedder.retry = NO_RETRY
    embedder.warm_up()
    docs = [Document(content="fine"), Document(content="poison pill"), Document(content="also fine")]
    with pytest.raises(ServerError):  # 0.4.0 raised the SDK's ServiceException
        embedder.run(docs)
    assert all(doc.embedding is None for doc in docs)  # none is half-updated


@pytest.mark.live
def test_text_embedder_and_generator_outputs(live_emulator: EmulatorServer) -> None:
    text_embedder = GradientTextEmbedder()
    text_embedder.warm_up()
    embedding = text_embedder.run("hello")["embedding"]
    assert len(embedding) == 1024
    generator = GradientGenerator(base_model_slug="nous-hermes2", max_generated_token_count=3)
    generator.warm_up()
    out = generator.run("a b c d e")
    assert out == {"replies": [" nous-hermes2"]}  # three tokens: "nous", "-", "hermes2"


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
