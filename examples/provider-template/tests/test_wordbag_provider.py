"""The behaviour of the wordbag provider itself (the contract kit covers the protocol)."""

from __future__ import annotations

import math

import pytest

import hayswitch
from hayswitch import InvalidInputError, SettingsError
from hayswitch_wordbag import WordbagProvider, bag_of_words_vector, extract_answer
from hayswitch_wordbag.provider import NO_ANSWER

CONTEXT = """Documents:
The fake provider echoes the prompt and never touches the network.
The local provider runs SmolLM2 on the CPU with llama.cpp.
Gradient was a hosted platform for fine-tuning open models.

Query: Which provider runs on the CPU?"""


@pytest.fixture
def provider() -> WordbagProvider:
    p = hayswitch.get_provider("wordbag")
    assert isinstance(p, WordbagProvider)
    return p


def test_discovered_through_the_entry_point() -> None:
    row = next(r for r in hayswitch.list_providers() if r.name == "wordbag")
    assert row.distribution == "hayswitch-wordbag"
    assert row.error is None


def test_vectors_are_unit_length_and_deterministic() -> None:
    a = bag_of_words_vector("Haystack pipelines with hayswitch", dimension=32)
    b = bag_of_words_vector("Haystack pipelines with hayswitch", dimension=32)
    assert a == b
    assert len(a) == 32
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, rel_tol=1e-9)


def test_similar_texts_are_closer_than_unrelated_ones(provider: WordbagProvider) -> None:
    query = provider.embed_text("how do I fine-tune a model").vector
    docs = provider.embed_documents(["Fine-tune a model on your samples.", "Bananas are rich in potassium."]).vectors
    related, unrelated = (sum(q * d for q, d in zip(query, v, strict=True)) for v in docs)
    assert related > unrelated


def test_punctuation_only_text_still_gets_a_unit_vector() -> None:
    vector = bag_of_words_vector("!!! ???", dimension=16)
    assert math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-9)


def test_model_id_reflects_the_vector_settings() -> None:
    assert hayswitch.get_provider("wordbag", dimension=64, ngram_max=1).embedding_model_id == "wordbag-64d-1gram"
    assert hayswitch.get_provider("wordbag").embedding_dimension == 256


def test_long_text_is_truncated_to_max_input_words() -> None:
    p = hayswitch.get_provider("wordbag", max_input_words=10)
    head = " ".join(f"word{i}" for i in range(10))
    assert p.embed_text(head + " extra words beyond the limit").vector == p.embed_text(head).vector


def test_extractive_answer_picks_the_matching_sentence(provider: WordbagProvider) -> None:
    result = provider.generate(CONTEXT)
    assert result.text == "The local provider runs SmolLM2 on the CPU with llama.cpp."
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.completion_tokens == len(result.text.split())


def test_question_as_final_sentence() -> None:
    text = "Paris is the capital of France. Berlin is the capital of Germany. What is the capital of Germany?"
    assert extract_answer(text) == "Berlin is the capital of Germany."


def test_no_overlap_says_so_instead_of_inventing() -> None:
    assert extract_answer("Documents:\nCats purr.\n\nQuery: quantum chromodynamics?") == NO_ANSWER


def test_max_tokens_cuts_with_finish_reason_length(provider: WordbagProvider) -> None:
    result = provider.generate(CONTEXT, {"max_tokens": 3})
    assert result.text == "The local provider"
    assert result.finish_reason == "length"


def test_stop_sequence(provider: WordbagProvider) -> None:
    assert provider.generate(CONTEXT, {"stop": [" on the"]}).text == "The local provider runs SmolLM2"


def test_stream_matches_generate(provider: WordbagProvider) -> None:
    chunks = list(provider.stream(CONTEXT))
    assert "".join(c.text for c in chunks) == provider.generate(CONTEXT).text
    assert chunks[-1].finish_reason == "stop"
    assert all(c.finish_reason is None for c in chunks[:-1])


def test_max_sentences_option_is_validated(provider: WordbagProvider) -> None:
    with pytest.raises(InvalidInputError, match="max_sentences"):
        provider.generate(CONTEXT, {"max_sentences": 0})


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="dimensions: unknown setting"):
        hayswitch.get_provider("wordbag", dimensions=64)


def test_a_sentence_introducing_a_list_brings_its_items() -> None:
    prompt = (
        "Documents:\n# Components\nThe steps for creating a component are:\n\n1. Write a class.\n"
        "2. Add a run method.\n\nPipelines connect components.\n\nQuery: What are the steps for creating a component?"
    )
    assert extract_answer(prompt) == "The steps for creating a component are: Write a class. Add a run method."


def test_markdown_headings_are_never_the_answer() -> None:
    prompt = (
        "Documents:\n# Custom component creation\nA custom component needs a run method.\n\nQuery: custom component?"
    )
    assert extract_answer(prompt) == "A custom component needs a run method."
