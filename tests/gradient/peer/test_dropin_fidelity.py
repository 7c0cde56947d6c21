"""What a caller migrating from gradient-haystack 0.4.0 can observe, beyond 0.4.0's own unit tests.

Each expectation was checked against gradient-haystack 0.4.0 itself (installed from PyPI into a
separate virtualenv, talking to the same emulator; see ``README.md``). The claims of
``docs/migration.md`` point at these tests.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from gradient_emulator import EmulatorServer, embedding
from gradient_support import FAKE_WORKSPACE
from haystack import Document, Pipeline, component
from haystack.components.builders.answer_builder import AnswerBuilder
from haystack.components.writers import DocumentWriter
from haystack.core.errors import DeserializationError
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import Secret as HaystackSecret
from peer_support import served

import hayswitch
from haystack_integrations.components.embedders.gradient import GradientDocumentEmbedder, GradientTextEmbedder
from haystack_integrations.components.generators.gradient import GradientGenerator
from hayswitch import InvalidInputError, MissingSecretError, NotFoundError, ResponseError, ServerError
from hayswitch.errors import InvalidInputTypeError
from hayswitch.secrets import SecretSerialisationError
from hayswitch_gradient import SDKAttributeRemovedError

ADAPTER_ID = "0" * 36 + "_model_adapter"  # 50 characters, like Gradient's adapter ids


@component
class DocumentCounter:
    """A user's own component taking Documents (the second implicit-connect case of the issue)."""

    @component.output_types(count=int, embedded=int)
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"count": len(documents), "embedded": sum(d.embedding is not None for d in documents)}


# --------------------------------------------------------------------------- output sockets


def test_implicit_connect_llm_to_answer_builder(emulator: EmulatorServer) -> None:
    pipeline = Pipeline()
    pipeline.add_component("llm", GradientGenerator(base_model_slug="nous-hermes2"))
    pipeline.add_component("answer_builder", AnswerBuilder())
    pipeline.connect("llm", "answer_builder")  # 0.4.0: one output, so unambiguous
    assert pipeline.to_dict()["connections"] == [{"sender": "llm.replies", "receiver": "answer_builder.replies"}]
    result = pipeline.run({"llm": {"prompt": "What is Gradient?"}, "answer_builder": {"query": "What is Gradient?"}})
    assert result["answer_builder"]["answers"][0].data == " nous-hermes2 answers: What is Gradient?"


def test_implicit_connect_document_embedder_to_custom_component(emulator: EmulatorServer) -> None:
    pipeline = Pipeline()
    pipeline.add_component("document_embedder", GradientDocumentEmbedder(progress_bar=False))
    pipeline.add_component("counter", DocumentCounter())
    pipeline.connect("document_embedder", "counter")
    assert pipeline.to_dict()["connections"] == [
        {"sender": "document_embedder.documents", "receiver": "counter.documents"}
    ]
    docs = [Document(content="one"), Document(content="two")]
    assert pipeline.run({"document_embedder": {"documents": docs}})["counter"] == {"count": 2, "embedded": 2}


def test_outputs_are_exactly_those_of_0_4_0(emulator: EmulatorServer) -> None:
    docs = GradientDocumentEmbedder(progress_bar=False)
    text = GradientTextEmbedder()
    llm = GradientGenerator(base_model_slug="nous-hermes2")
    for c in (docs, text, llm):
        c.warm_up()
    assert set(docs.run(documents=[Document(content="x")])) == {"documents"}
    assert set(text.run(text="x")) == {"embedding"}
    assert llm.run(prompt="hi") == {"replies": [" nous-hermes2 answers: hi"]}  # 0.4.0's reply, same emulator


# --------------------------------------------------------------------------- input Documents


def test_input_documents_get_their_embeddings_in_place(emulator: EmulatorServer) -> None:
    embedder = GradientDocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    docs = [Document(content="alpha", meta={"source": "a.txt"}), Document(content="beta")]
    embedder.run(documents=docs)  # the result is ignored, as in code written for 0.4.0
    store = InMemoryDocumentStore()
    store.write_documents(docs)
    stored = {d.content: d for d in store.filter_documents()}
    assert stored["alpha"].embedding == pytest.approx(list(embedding("alpha")))
    assert stored["beta"].embedding == pytest.approx(list(embedding("beta")))
    # No provenance keys are added to the meta (hayswitch's ProviderDocumentEmbedder adds them).
    assert stored["alpha"].meta == {"source": "a.txt"}
    assert stored["beta"].meta == {}


def test_documents_without_content_are_a_value_error_before_any_request(emulator: EmulatorServer) -> None:
    embedder = GradientDocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    for content in (None, ""):
        with pytest.raises(ValueError, match="no content"):
            embedder.run(documents=[Document(content="fine"), Document(content=content)])
    assert served(emulator) == []
    blank = Document(content="   ")
    embedder.run(documents=[blank])  # 0.4.0 sent whitespace; so does the drop-in
    assert blank.embedding == pytest.approx(list(embedding("   ")))


def test_writer_pipeline_stores_vectors(emulator: EmulatorServer) -> None:
    store = InMemoryDocumentStore()
    pipeline = Pipeline()
    pipeline.add_component("embedder", GradientDocumentEmbedder(progress_bar=False))
    pipeline.add_component("writer", DocumentWriter(document_store=store))
    pipeline.connect("embedder", "writer")
    pipeline.run({"embedder": {"documents": [Document(content="hello")]}})
    assert store.filter_documents()[0].embedding == pytest.approx(list(embedding("hello")))


# --------------------------------------------------------------------------- request batching


def test_requests_are_those_0_4_0_sent(emulator: EmulatorServer) -> None:
    def sizes(embedder: GradientDocumentEmbedder, count: int) -> list[int]:
        emulator.reset_stats()
        embedder.warm_up()
        embedder.run(documents=[Document(content=f"document {i}") for i in range(count)])
        return sorted(r["inputs"] for r in served(emulator, "embed"))

    # Without the progress bar 0.4.0 ignored batch_size: one SDK call, split at the API's 256.
    assert sizes(GradientDocumentEmbedder(batch_size=20, progress_bar=False), 101) == [101]
    assert sizes(GradientDocumentEmbedder(progress_bar=False), 600) == [88, 256, 256]
    # With it, steps of batch_size, each split at 256.
    assert sizes(GradientDocumentEmbedder(batch_size=300), 600) == [44, 44, 256, 256]
    # An empty list sends nothing, with or without the bar (0.4.0 without it: an empty request the
    # SDK refused with a ValueError).
    emulator.reset_stats()
    for bar in (True, False):
        empty = GradientDocumentEmbedder(progress_bar=bar)
        empty.warm_up()
        assert empty.run(documents=[]) == {"documents": []}
    assert served(emulator) == []


# --------------------------------------------------------------------------- exceptions


def test_missing_secrets_are_value_errors_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    assert issubclass(MissingSecretError, ValueError)
    monkeypatch.delenv("GRADIENT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "ws")
    for make in (
        lambda: GradientDocumentEmbedder(),
        lambda: GradientTextEmbedder(),
        lambda: GradientGenerator(base_model_slug="nous-hermes2"),
        lambda: GradientTextEmbedder(access_token=hayswitch.Secret.from_env_var("GRADIENT_ACCESS_TOKEN")),
        lambda: GradientTextEmbedder(access_token="env:GRADIENT_ACCESS_TOKEN"),
    ):
        with pytest.raises(ValueError, match="GRADIENT_ACCESS_TOKEN"):
            make()
    # A non-strict secret that resolves to nothing falls back to the variable, as the SDK did.
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "tok")
    GradientTextEmbedder(access_token=HaystackSecret.from_env_var("UNSET_VARIABLE", strict=False))
    monkeypatch.delenv("GRADIENT_ACCESS_TOKEN")
    with pytest.raises(ValueError, match="GRADIENT_ACCESS_TOKEN"):
        GradientTextEmbedder(access_token=HaystackSecret.from_env_var("UNSET_VARIABLE", strict=False))


def test_empty_secret_is_a_value_error_at_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "")
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "ws")
    embedder = GradientTextEmbedder()  # 0.4.0 accepted it here too (and got HTTP 401 at run)
    with pytest.raises(ValueError, match="access_token is an empty string"):
        embedder.warm_up()


def test_to_dict_with_a_token_secret_is_a_value_error(tokens_from_env: None) -> None:
    for token in (HaystackSecret.from_token("tok-123"), hayswitch.Secret.from_token("tok-123"), "tok-123"):
        embedder = GradientTextEmbedder(access_token=token)
        with pytest.raises(ValueError) as excinfo:
            embedder.to_dict()
        assert "tok-123" not in str(excinfo.value)
    assert issubclass(SecretSerialisationError, ValueError)


def test_wrong_input_types_are_type_errors_before_the_warm_up_check(tokens_from_env: None) -> None:
    docs = GradientDocumentEmbedder()
    text = GradientTextEmbedder()
    for bad in ("a string", ["a string"], None, (Document(content="x"),)):
        with pytest.raises(TypeError, match="expects a list of Documents"):
            docs.run(documents=bad)  # type: ignore[arg-type]
    for bad_text in (1, ["a list"], None):
        with pytest.raises(TypeError, match="expects a string"):
            text.run(text=bad_text)  # type: ignore[arg-type]
    assert issubclass(InvalidInputTypeError, TypeError)
    assert issubclass(InvalidInputTypeError, InvalidInputError)


def test_generator_errors(emulator: EmulatorServer) -> None:
    llm = GradientGenerator(base_model_slug="nous-hermes2")
    with pytest.raises(RuntimeError, match=r"warm_up\(\)") as excinfo:
        llm.run(prompt="hi")
    assert isinstance(excinfo.value, AttributeError)  # 0.4.0: AttributeError (no '_model')
    llm.warm_up()
    for prompt in ("", 1):  # 0.4.0: the SDK's ValidationError, a ValueError, before any request
        with pytest.raises(ValueError):
            llm.run(prompt=prompt)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        llm.run(prompt=1)  # type: ignore[arg-type]
    # Differences (see docs/migration.md): checked before sending, where 0.4.0 sent them.
    with pytest.raises(ValueError, match="empty"):
        llm.run(prompt="   ")
    for options in ({"top_k": 0}, {"top_p": 1.5}, {"temperature": -1.0}):
        odd = GradientGenerator(base_model_slug="nous-hermes2", **options)
        odd.warm_up()
        with pytest.raises(ValueError, match=next(iter(options))):
            odd.run(prompt="hi")
    assert served(emulator, "complete") == []
    unknown = GradientGenerator(base_model_slug="no-such-model")
    unknown.warm_up()  # 0.4.0 raised StopIteration here (after listing the models)
    with pytest.raises(NotFoundError, match="no-such-model"):
        unknown.run(prompt="hi")


def test_malformed_response_is_a_runtime_error_at_once(emulator: EmulatorServer) -> None:
    assert issubclass(ResponseError, RuntimeError)
    embedder = GradientDocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    emulator.add_fault(kind="wrong_count", endpoint="embed")
    docs = [Document(content="a"), Document(content="b")]
    with pytest.raises(RuntimeError):
        embedder.run(documents=docs)
    assert len(served(emulator, "embed")) == 1
    assert all(d.embedding is None for d in docs)  # 0.4.0 silently left the last one without a vector


def test_server_errors_are_retried(emulator: EmulatorServer) -> None:
    # 0.4.0 raised the SDK's ServiceException on the first 500; the provider retries (see README).
    embedder = GradientTextEmbedder()
    embedder.warm_up()
    emulator.add_fault(kind="500", times=1, endpoint="embed")
    assert len(embedder.run(text="hello")["embedding"]) == 1024
    assert [r["status"] for r in served(emulator, "embed")] == [500, 200]
    emulator.add_fault(kind="500", endpoint="embed")
    with pytest.raises(ServerError):
        embedder.run(text="hello")


# --------------------------------------------------------------------------- where validation happens


def test_base_model_slug_empty_string_is_absent(tokens_from_env: None) -> None:
    llm = GradientGenerator(base_model_slug="", model_adapter_id=ADAPTER_ID)
    assert llm.to_dict()["init_parameters"]["base_model_slug"] == ""
    assert GradientGenerator(base_model_slug="nous-hermes2", model_adapter_id="").model_adapter_id == ""
    with pytest.raises(ValueError, match="Either base_model_slug or model_adapter_id"):
        GradientGenerator(base_model_slug="", model_adapter_id="")
    with pytest.raises(ValueError, match="Only one of"):
        GradientGenerator(base_model_slug="nous-hermes2", model_adapter_id=ADAPTER_ID)


def test_values_0_4_0_checked_at_first_use_do_not_fail_construction(emulator: EmulatorServer) -> None:
    odd = GradientGenerator(model_adapter_id="your_finetuned_model_adapter_id", max_generated_token_count=1000)
    assert GradientGenerator.from_dict(odd.to_dict()).to_dict() == odd.to_dict()
    with pytest.raises(ValueError, match="model_adapter_id"):
        odd.warm_up()  # 0.4.0: the SDK's ValidationError (ids have 50 characters) at warm_up

    long_reply = GradientGenerator(base_model_slug="nous-hermes2", max_generated_token_count=1000)
    long_reply.warm_up()
    with pytest.raises(ValueError, match="max_tokens"):
        long_reply.run(prompt="hi")  # 0.4.0: the SDK's ValidationError at run, before any request
    assert served(emulator, "complete") == []

    no_model = GradientTextEmbedder(model="")
    with pytest.raises(ValueError, match="embedding_model"):
        no_model.warm_up()

    zero = GradientDocumentEmbedder(batch_size=0)
    zero.warm_up()
    with pytest.raises(ValueError, match="batch_size"):
        zero.run(documents=[Document(content="x")])  # 0.4.0: range() arg 3 must not be zero
    zero.progress_bar = False  # 0.4.0 ignored batch_size without the progress bar
    assert zero.run(documents=[Document(content="x")])["documents"][0].embedding is not None


# --------------------------------------------------------------------------- tests written for 0.4.0


def test_mocking_0_4_0_private_sdk_attributes_fails_loudly(emulator: EmulatorServer) -> None:
    cases: list[tuple[Any, str]] = [
        (GradientDocumentEmbedder(), "_embedding_model"),
        (GradientDocumentEmbedder(), "_gradient"),
        (GradientTextEmbedder(), "_embedding_model"),
        (GradientTextEmbedder(), "_gradient"),
        (GradientGenerator(base_model_slug="nous-hermes2"), "_model"),
        (GradientGenerator(base_model_slug="nous-hermes2"), "_gradient"),
    ]
    for instance, name in cases:
        with pytest.raises(SDKAttributeRemovedError, match="emulator"):
            setattr(instance, name, mock.NonCallableMagicMock())
        with pytest.raises(AttributeError, match="private"):
            getattr(instance, name).get_embeddings_model = mock.MagicMock()
        assert not hasattr(instance, name)  # code that checks hasattr() still works
        with pytest.raises(AttributeError), mock.patch.object(instance, name, mock.NonCallableMagicMock()):
            pass

    # Patching the class, or the high-level SDK 0.4.0 called, is caught at warm_up() / run().
    text = GradientTextEmbedder()
    patched_class = mock.patch.object(GradientTextEmbedder, "_embedding_model", mock.NonCallableMagicMock())
    with patched_class, pytest.raises(SDKAttributeRemovedError):
        text.warm_up()
    with mock.patch("gradientai.Gradient.get_embeddings_model"), pytest.raises(SDKAttributeRemovedError):
        text.warm_up()
    text.warm_up()
    with mock.patch("gradientai._embeddings_model.EmbeddingsModel.embed"), pytest.raises(SDKAttributeRemovedError):
        text.run(text="hello")
    # 0.4.0's modules imported the SDK client; patching it there fails instead of being ignored.
    target = "haystack_integrations.components.embedders.gradient.gradient_document_embedder.Gradient"
    with pytest.raises(AttributeError), mock.patch(target):
        pass
    assert served(emulator) == []  # nothing was sent


def test_pipeline_loads_with_secrets_read_at_construction(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = Pipeline()
    pipeline.add_component("embedder", GradientTextEmbedder())
    text = pipeline.dumps()
    monkeypatch.delenv("GRADIENT_WORKSPACE_ID")
    with pytest.raises(DeserializationError, match="GRADIENT_WORKSPACE_ID") as excinfo:  # as 0.4.0: __init__ resolves
        Pipeline.loads(text)
    assert isinstance(excinfo.value.__cause__, ValueError)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", FAKE_WORKSPACE)
    assert Pipeline.loads(text).run({"embedder": {"text": "hi"}})["embedder"]["embedding"]
