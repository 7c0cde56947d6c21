"""gradient-haystack 0.4.0's ``tests/test_gradient_document_embedder.py``, one test for each of
its tests (same names), checking the same public behaviour of the drop-in ``GradientDocumentEmbedder``.
Where 0.4.0's test patched ``_gradient`` or ``_embedding_model``, the check is made at the HTTP
boundary, on the Gradient emulator. ``README.md`` maps them and says where a check differs."""

from __future__ import annotations

import pytest
from gradient_emulator import EMBEDDING_DIMENSION, EmulatorServer, embedding
from gradient_support import FAKE_TOKEN, FAKE_WORKSPACE
from haystack import Document
from haystack.utils import Secret
from peer_support import served

from haystack_integrations.components.embedders.gradient import GradientDocumentEmbedder
from hayswitch import AuthenticationError

model = "bge-large"


def _check_embedded(result: dict[str, list[Document]], documents: list[Document]) -> None:
    """0.4.0's assertions, plus: the input Documents themselves carry the vectors of their texts."""
    assert isinstance(result["documents"], list)
    assert len(result["documents"]) == len(documents)
    assert result["documents"] is documents  # the same list and Documents, embedded in place
    for doc in result["documents"]:
        assert isinstance(doc, Document)
        assert isinstance(doc.embedding, list)
        assert isinstance(doc.embedding[0], float)
        assert len(doc.embedding) == EMBEDDING_DIMENSION
        assert doc.embedding == pytest.approx(list(embedding(doc.content or "")))


class TestGradientDocumentEmbedder:
    def test_init_from_env(self, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
        # 0.4.0 read both variables in __init__ into its SDK client; the drop-in too: the values read
        # at construction are the ones sent, even if the environment changes afterwards.
        embedder = GradientDocumentEmbedder()
        assert embedder is not None
        monkeypatch.delenv("GRADIENT_ACCESS_TOKEN")
        monkeypatch.delenv("GRADIENT_WORKSPACE_ID")
        embedder.warm_up()
        embedder.run(documents=[Document(content="hello")])
        assert [r["status"] for r in served(emulator, "embed")] == [200]

        monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "not-the-emulator-token")
        monkeypatch.setenv("GRADIENT_WORKSPACE_ID", FAKE_WORKSPACE)
        wrong = GradientDocumentEmbedder()
        wrong.warm_up()
        with pytest.raises(AuthenticationError):
            wrong.run(documents=[Document(content="hello")])

    def test_init_without_access_token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("GRADIENT_ACCESS_TOKEN", raising=False)
        monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "workspace_id")

        with pytest.raises(ValueError, match="GRADIENT_ACCESS_TOKEN"):
            GradientDocumentEmbedder()

    def test_init_without_workspace(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "access_token")
        monkeypatch.delenv("GRADIENT_WORKSPACE_ID", raising=False)

        with pytest.raises(ValueError, match="GRADIENT_WORKSPACE_ID"):
            GradientDocumentEmbedder()

    def test_init_from_params(self, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("GRADIENT_ACCESS_TOKEN")
        monkeypatch.delenv("GRADIENT_WORKSPACE_ID")
        embedder = GradientDocumentEmbedder(
            access_token=Secret.from_token(FAKE_TOKEN), workspace_id=Secret.from_token(FAKE_WORKSPACE)
        )
        assert embedder is not None
        embedder.warm_up()
        embedder.run(documents=[Document(content="hello")])
        assert [r["status"] for r in served(emulator, "embed")] == [200]

    def test_init_from_params_precedence(self, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "env_access_token")
        monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "env_workspace_id")

        embedder = GradientDocumentEmbedder(
            access_token=Secret.from_token(FAKE_TOKEN), workspace_id=Secret.from_token(FAKE_WORKSPACE)
        )
        assert embedder is not None
        embedder.warm_up()
        embedder.run(documents=[Document(content="hello")])  # the emulator refuses the env values
        assert [r["status"] for r in served(emulator, "embed")] == [200]

    def test_to_dict(self, tokens_from_env: None) -> None:
        component = GradientDocumentEmbedder()
        data = component.to_dict()
        t = "haystack_integrations.components.embedders.gradient.gradient_document_embedder.GradientDocumentEmbedder"
        assert data == {
            "type": t,
            "init_parameters": {
                "access_token": {"env_vars": ["GRADIENT_ACCESS_TOKEN"], "strict": True, "type": "env_var"},
                "batch_size": 32768,
                "host": None,
                "model": "bge-large",
                "progress_bar": True,
                "workspace_id": {"env_vars": ["GRADIENT_WORKSPACE_ID"], "strict": True, "type": "env_var"},
            },
        }

    def test_warmup(self, emulator: EmulatorServer) -> None:
        # 0.4.0: warm_up() asked the SDK for the "bge-large" embeddings model. Here: warm_up() binds
        # the embedder to that model (every request goes to /embeddings/bge-large) and sends nothing
        # (0.4.0's SDK listed the embeddings models; see README).
        embedder = GradientDocumentEmbedder()
        embedder.warm_up()
        assert served(emulator) == []
        embedder.run(documents=[Document(content="hello")])
        assert [r["path"] for r in served(emulator)] == [f"/api/embeddings/{model}"]

    def test_warmup_doesnt_reload(self, emulator: EmulatorServer) -> None:
        embedder = GradientDocumentEmbedder()
        embedder.warm_up()
        provider = embedder.provider_instance
        embedder.warm_up()
        assert provider is not None
        assert embedder.provider_instance is provider
        assert served(emulator) == []

    def test_run_fail_if_not_warmed_up(self, emulator: EmulatorServer) -> None:
        embedder = GradientDocumentEmbedder()

        with pytest.raises(RuntimeError, match=r"warm_up\(\)"):
            embedder.run(documents=[Document(content=f"document number {i}") for i in range(5)])
        assert served(emulator) == []

    def test_run(self, emulator: EmulatorServer) -> None:
        embedder = GradientDocumentEmbedder()
        embedder.warm_up()
        documents = [Document(content=f"document number {i}") for i in range(5)]

        result = embedder.run(documents=documents)

        assert [r["inputs"] for r in served(emulator, "embed")] == [5]  # one request
        _check_embedded(result, documents)

    def test_run_batch(self, emulator: EmulatorServer) -> None:
        embedder = GradientDocumentEmbedder()
        embedder.warm_up()
        documents = [Document(content=f"document number {i}") for i in range(110)]

        result = embedder.run(documents=documents)

        assert [r["inputs"] for r in served(emulator, "embed")] == [110]  # one request
        _check_embedded(result, documents)

    def test_run_custom_batch(self, emulator: EmulatorServer) -> None:
        embedder = GradientDocumentEmbedder(batch_size=20)
        embedder.warm_up()
        document_count = 101
        documents = [Document(content=f"document number {i}") for i in range(document_count)]

        result = embedder.run(documents=documents)

        # 0.4.0 made 6 SDK calls of at most 20 documents, one request each.
        assert sorted(r["inputs"] for r in served(emulator, "embed")) == [1, 20, 20, 20, 20, 20]
        _check_embedded(result, documents)

    def test_run_empty(self, emulator: EmulatorServer) -> None:
        embedder = GradientDocumentEmbedder()
        embedder.warm_up()

        result = embedder.run(documents=[])

        assert result["documents"] == []
        assert served(emulator) == []
