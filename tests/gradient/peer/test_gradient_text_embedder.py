"""gradient-haystack 0.4.0's ``tests/test_gradient_text_embedder.py``, one test for each of its
tests (same names), checking the same public behaviour of the drop-in ``GradientTextEmbedder``.
Where 0.4.0's test patched ``_gradient`` or ``_embedding_model``, the check is made at the HTTP
boundary, on the Gradient emulator. ``README.md`` maps them and says where a check differs."""

from __future__ import annotations

import pytest
from gradient_emulator import EMBEDDING_DIMENSION, EmulatorServer, embedding
from gradient_support import FAKE_TOKEN, FAKE_WORKSPACE
from haystack.utils import Secret
from peer_support import served

from haystack_integrations.components.embedders.gradient import GradientTextEmbedder
from hayswitch import PermissionDeniedError

model = "bge-large"


class TestGradientTextEmbedder:
    def test_init_from_env(self, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
        # Both variables are read in __init__ (as 0.4.0's SDK client did) and are what is sent.
        embedder = GradientTextEmbedder()
        assert embedder is not None
        monkeypatch.delenv("GRADIENT_ACCESS_TOKEN")
        monkeypatch.delenv("GRADIENT_WORKSPACE_ID")
        embedder.warm_up()
        embedder.run(text="hello")
        assert [r["status"] for r in served(emulator, "embed")] == [200]

        monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", FAKE_TOKEN)
        monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "not-the-emulator-workspace")
        wrong = GradientTextEmbedder()
        wrong.warm_up()
        with pytest.raises(PermissionDeniedError):  # the workspace read at construction is sent
            wrong.run(text="hello")

    def test_init_without_access_token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("GRADIENT_ACCESS_TOKEN", raising=False)
        monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "workspace_id")

        with pytest.raises(ValueError, match="GRADIENT_ACCESS_TOKEN"):
            GradientTextEmbedder()

    def test_init_without_workspace(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "access_token")
        monkeypatch.delenv("GRADIENT_WORKSPACE_ID", raising=False)

        with pytest.raises(ValueError, match="GRADIENT_WORKSPACE_ID"):
            GradientTextEmbedder()

    def test_init_from_params(self, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("GRADIENT_ACCESS_TOKEN")
        monkeypatch.delenv("GRADIENT_WORKSPACE_ID")
        embedder = GradientTextEmbedder(
            access_token=Secret.from_token(FAKE_TOKEN), workspace_id=Secret.from_token(FAKE_WORKSPACE)
        )
        assert embedder is not None
        embedder.warm_up()
        embedder.run(text="hello")
        assert [r["status"] for r in served(emulator, "embed")] == [200]

    def test_init_from_params_precedence(self, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", "env_access_token")
        monkeypatch.setenv("GRADIENT_WORKSPACE_ID", "env_workspace_id")

        embedder = GradientTextEmbedder(
            access_token=Secret.from_token(FAKE_TOKEN), workspace_id=Secret.from_token(FAKE_WORKSPACE)
        )
        assert embedder is not None
        embedder.warm_up()
        embedder.run(text="hello")  # the emulator refuses the env values
        assert [r["status"] for r in served(emulator, "embed")] == [200]

    def test_to_dict(self, tokens_from_env: None) -> None:
        component = GradientTextEmbedder()
        data = component.to_dict()
        assert data == {
            "type": "haystack_integrations.components.embedders.gradient.gradient_text_embedder.GradientTextEmbedder",
            "init_parameters": {
                "access_token": {"env_vars": ["GRADIENT_ACCESS_TOKEN"], "strict": True, "type": "env_var"},
                "host": None,
                "model": "bge-large",
                "workspace_id": {"env_vars": ["GRADIENT_WORKSPACE_ID"], "strict": True, "type": "env_var"},
            },
        }

    def test_warmup(self, emulator: EmulatorServer) -> None:
        # warm_up() binds the embedder to "bge-large" and sends nothing (0.4.0's SDK listed the
        # embeddings models; see README).
        embedder = GradientTextEmbedder()
        embedder.warm_up()
        assert served(emulator) == []
        embedder.run(text="hello")
        assert [r["path"] for r in served(emulator)] == [f"/api/embeddings/{model}"]

    def test_warmup_doesnt_reload(self, emulator: EmulatorServer) -> None:
        embedder = GradientTextEmbedder()
        embedder.warm_up()
        provider = embedder.provider_instance
        embedder.warm_up()
        assert provider is not None
        assert embedder.provider_instance is provider
        assert served(emulator) == []

    def test_run_fail_if_not_warmed_up(self, emulator: EmulatorServer) -> None:
        embedder = GradientTextEmbedder()

        with pytest.raises(RuntimeError, match=r"warm_up\(\)"):
            embedder.run(text="The food was delicious")
        assert served(emulator) == []

    def test_run_fail_when_no_embeddings_returned(self, emulator: EmulatorServer) -> None:
        embedder = GradientTextEmbedder()
        embedder.warm_up()
        emulator.add_fault(kind="wrong_count", endpoint="embed")  # 200 with "embeddings": []

        with pytest.raises(RuntimeError):
            embedder.run(text="The food was delicious")
        # Raised at once, as in 0.4.0: a malformed answer is not retried.
        assert [(r["inputs"], r["status"]) for r in served(emulator, "embed")] == [(1, 200)]

    def test_run_empty_string(self, emulator: EmulatorServer) -> None:
        # 0.4.0's test mocked the SDK model and expected "" to be embedded. The real 0.4.0 raised
        # the SDK's pydantic ValidationError (a ValueError) before sending anything: the API takes
        # no empty input (checked side by side, see README). The drop-in does what 0.4.0 did.
        embedder = GradientTextEmbedder()
        embedder.warm_up()

        with pytest.raises(ValueError, match="at least 1 character"):
            embedder.run(text="")
        assert served(emulator) == []

        # Whitespace is not empty: 0.4.0 sent it, and so does the drop-in.
        result = embedder.run(text=" ")
        assert [r["inputs"] for r in served(emulator, "embed")] == [1]
        assert len(result["embedding"]) == EMBEDDING_DIMENSION  # 1024 is the bge-large embedding size
        assert all(isinstance(x, float) for x in result["embedding"])

    def test_run(self, emulator: EmulatorServer) -> None:
        embedder = GradientTextEmbedder()
        embedder.warm_up()

        result = embedder.run(text="The food was delicious")
        assert [r["inputs"] for r in served(emulator, "embed")] == [1]  # one request, one input

        assert len(result["embedding"]) == EMBEDDING_DIMENSION  # 1024 is the bge-large embedding size
        assert all(isinstance(x, float) for x in result["embedding"])
        assert result["embedding"] == pytest.approx(list(embedding("The food was delicious")))
