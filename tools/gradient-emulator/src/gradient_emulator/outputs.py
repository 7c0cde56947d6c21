"""Deterministic model outputs: embeddings, completions and fine-tuning figures.

Nothing here is a model. The outputs are pure functions of the request (plus, for adapters, the
samples they were fine-tuned on), so the same request always gets the same answer, in every
process: that keeps cassettes and tests stable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "EMBEDDING_DIMENSION",
    "EMBEDDING_SLUG",
    "choose_guided",
    "complete",
    "embedding",
    "embedding_lists",
    "fine_tune_figures",
    "tokens",
]

EMBEDDING_SLUG = "bge-large"
EMBEDDING_DIMENSION = 1024
_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def _seed(kind: str, text: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{kind}\x00{text}".encode(), digest_size=8).digest(), "little")


@lru_cache(maxsize=8192)
def _unit(kind: str, text: str) -> np.ndarray:
    vec = np.random.default_rng(_seed(kind, text)).standard_normal(EMBEDDING_DIMENSION)
    vec /= np.linalg.norm(vec)
    vec.setflags(write=False)
    return vec


@lru_cache(maxsize=2048)
def embedding(text: str) -> tuple[float, ...]:
    """The 1024-d, unit-norm vector of ``text``.

    It is the normalised sum of one pseudo-random unit vector per word (seeded from the word) and
    a smaller one seeded from the whole text. The same text always gives the same vector; texts
    sharing words are closer than unrelated texts (so retrieval over emulator vectors behaves
    plausibly); two different texts never give the same vector. Components are rounded to 7
    decimals, like a float32 API would send, so the norm is 1 within 1e-6.
    """
    acc = 0.5 * _unit("text", text)
    for word in _WORD.findall(text.lower()):
        acc = acc + _unit("word", word)
    acc = acc / np.linalg.norm(acc)
    return tuple(np.round(acc, 7).tolist())


def embedding_lists(texts: Sequence[str]) -> list[list[float]]:
    """Vectors for ``texts`` as JSON-ready lists."""
    return [list(embedding(t)) for t in texts]


def tokens(text: str) -> list[str]:
    """A crude tokenizer (words and punctuation), used for token counts and length limits."""
    return _TOKEN.findall(text)


def choose_guided(query: str, choices: Sequence[str]) -> str:
    """Guided generation: the choice sharing the most words with the query (ties: a stable
    hash of query and choice), so the answer is always one of ``choices``."""
    query_words = set(_WORD.findall(query.lower()))

    def score(choice: str) -> tuple[int, int]:
        overlap = len(query_words & set(_WORD.findall(choice.lower())))
        return overlap, _seed("choice", query + "\x00" + choice)

    return max(choices, key=score)


def complete(
    *,
    query: str,
    model_name: str,
    max_tokens: int,
    trained: Sequence[str] = (),
) -> tuple[str, str]:
    """Generate ``(generated_output, finish_reason)`` for ``query``.

    * If the model is an adapter fine-tuned on a sample that starts with the query (ignoring
      surrounding whitespace), the output is that sample's continuation: fine-tuning visibly
      "teaches" the adapter, which makes the fine-tune-then-generate flow testable.
    * Otherwise the output restates the last line of the query: ``" <model> answers: <line>"``.

    The output is cut to ``max_tokens`` tokens (finish reason ``"length"``), else ``"stop"``.
    """
    stripped = query.strip()
    output: str | None = None
    for sample in sorted(trained, key=len, reverse=True):
        if stripped and sample.startswith(stripped) and len(sample) > len(stripped):
            output = sample[len(stripped) :]
            break
    if output is None:
        lines = [line.strip() for line in stripped.splitlines() if line.strip()]
        last = lines[-1] if lines else stripped
        output = f" {model_name} answers: {last}"
    # Keep whitespace between tokens but cut after max_tokens tokens.
    matches = list(_TOKEN.finditer(output))
    if len(matches) > max_tokens:
        return output[: matches[max_tokens - 1].end()], "length"
    return output, "stop"


def fine_tune_figures(samples: Sequence[tuple[str, float]], epochs_before: int) -> tuple[int, float]:
    """``(numberOfTrainableTokens, sumLoss)`` for one fine-tuning step.

    :param samples: (trainable text, multiplier) per sample.
    :param epochs_before: fine-tuning calls this adapter already had; the per-token loss decays
        with it, so repeated training shows a falling loss.
    """
    count = sum(len(tokens(text)) for text, _ in samples)
    per_token = 2.5 / (1.0 + 0.5 * epochs_before)
    weighted = sum(len(tokens(text)) * multiplier for text, multiplier in samples)
    jitter = (_seed("loss", "\x00".join(t for t, _ in samples)) % 1000) / 10000.0
    return count, round(weighted * per_token * (1.0 + jitter), 5)
