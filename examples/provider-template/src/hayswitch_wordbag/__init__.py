"""hayswitch-wordbag: a tiny, dependency-free hayswitch provider (the provider template).

* Embeddings: hashed bag-of-words (word n-grams, sublinear term frequency, signed feature
  hashing, L2-normalised). Deterministic, offline, no model to download.
* Generation: an extractive answerer that returns the sentences of the prompt's context that
  best match its question, so a RAG pipeline gives grounded (if terse) answers.

The provider is registered through the ``hayswitch`` entry point ``wordbag`` (see
``pyproject.toml``); use it as ``hayswitch.get_provider("wordbag")`` or ``HAYSWITCH_PROVIDER=wordbag``.
"""

from __future__ import annotations

from hayswitch_wordbag.provider import WordbagProvider, WordbagSettings, bag_of_words_vector, extract_answer

__all__ = ["WordbagProvider", "WordbagSettings", "bag_of_words_vector", "extract_answer"]
