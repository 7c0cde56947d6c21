"""ProviderTextEmbedder on the fake provider."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from haystack import Document

from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from hayswitch import InvalidInputError
from hayswitch.providers.fake import fake_embedding


def test_embeds_text_with_prefix_and_suffix_and_reports_meta() -> None:
    embedder = ProviderTextEmbedder(provider="fake", prefix="query: ", suffix="?")
    out = embedder.run("where is the cat")
    assert out["embedding"] == fake_embedding("query: where is the cat?", 64)
    assert out["meta"] == {
        "provider": "fake",
        "model": "fake-embed",
        "dimension": 64,
        "usage": {"prompt_tokens": 5, "completion_tokens": None, "total_tokens": 5},
    }


def test_run_async_matches_run() -> None:
    embedder = ProviderTextEmbedder(provider="fake", settings={"dimension": 16})
    assert asyncio.run(embedder.run_async("hello world")) == embedder.run("hello world")


def test_query_and_document_vectors_share_a_space() -> None:
    docs = [Document(content="cats purr on the sofa"), Document(content="rockets reach orbit")]
    embedded = ProviderDocumentEmbedder(provider="fake", progress_bar=False).run(docs)["documents"]
    query = ProviderTextEmbedder(provider="fake").run("cats on the sofa")
    scores = [sum(a * b for a, b in zip(query["embedding"], d.embedding or [], strict=True)) for d in embedded]
    assert scores[0] > scores[1]
    assert query["meta"]["model"] == embedded[0].meta["embedding_model"]


def test_model_option() -> None:
    out = ProviderTextEmbedder(provider="fake", model="other-embed").run("x")
    assert out["meta"]["model"] == "other-embed"
    assert out["embedding"] == fake_embedding("x", 64, "other-embed")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([Document(content="a")], "Use ProviderDocumentEmbedder"),
        (["a", "b"], "takes a string, got list"),
        (42, "takes a string, got int"),
        ("   ", "empty"),
    ],
)
def test_bad_input_is_refused(mode: str, value: Any, message: str) -> None:
    embedder = ProviderTextEmbedder(provider="fake")

    def call() -> object:
        if mode == "async":
            return asyncio.run(embedder.run_async(value))
        return embedder.run(value)

    with pytest.raises(InvalidInputError, match=message):
        call()
    assert embedder.provider_instance is None  # refused before the provider was even created


def test_prefix_must_be_a_string() -> None:
    with pytest.raises(InvalidInputError, match="prefix"):
        ProviderTextEmbedder(provider="fake", prefix=None)  # type: ignore[arg-type]
