"""The contract-test kit on the ``openai`` provider, replayed from the cassettes shipped in
``hayswitch_openai/cassettes``, recorded against the llama.cpp OpenAI-compatible server
(``HAYSWITCH_RECORD=1 pytest tests/openai`` re-records them).

The class comes from the plugin's ContractDeclaration, as ``hayswitch check openai`` builds it."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from hayswitch import InvalidInputError, InvalidRequestError
from hayswitch.testing import contract_test_class
from hayswitch_openai import OpenAIProvider
from llamacpp_server import LlamaCppServer


class TestOpenAIContract(contract_test_class("openai")):  # type: ignore[misc]
    @pytest.fixture(autouse=True)
    def _server_when_recording(self, record_server: LlamaCppServer | None) -> None:
        """Recording needs the real server on the recorded port; replay needs nothing."""

    def test_context_length_error_is_an_invalid_input_error(self) -> None:
        """``long_text="error"`` (the default): an over-long input raises an InvalidInputError.

        OpenAI, vLLM, SGLang and TGI refuse an input longer than the model's window with HTTP 400
        ``context_length_exceeded``; the llama.cpp server used for the other cassettes instead
        truncates embedding inputs silently (llama-cpp-python hard-codes ``truncate=True``): the
        server settings say ``long_text="truncate"``, which the kit's own
        ``test_embed_very_long_text`` checks from a cassette here. The error path is checked against
        OpenAI's documented error body, served by an HTTP transport.
        """
        words = " ".join(f"alpha{i % 97}" for i in range(self.long_text_words))
        seen: list[dict[str, Any]] = []

        def handler(request: httpx2.Request) -> httpx2.Response:
            seen.append(json.loads(request.content))
            body = {
                "error": {
                    "message": "This model's maximum context length is 8192 tokens, however you requested "
                    "24011 tokens (24011 in your prompt; 0 for the completion). Please reduce your prompt.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "context_length_exceeded",
                }
            }
            return httpx2.Response(400, json=body)

        provider = OpenAIProvider(
            {"base_url": "https://api.example.test/v1", "api_key": None, "embedding_model": "text-embedding-3-small"},
            http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        )
        with pytest.raises(InvalidInputError) as excinfo:
            provider.embed_documents([words])
        assert isinstance(excinfo.value, InvalidRequestError)
        assert "context window" in str(excinfo.value)
        assert len(seen) == 1
        assert seen[0]["input"] == [words]
        provider.close()
