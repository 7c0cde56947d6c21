"""The ``wordbag`` provider: hashed bag-of-words embeddings and an extractive answerer.

Everything a hayswitch provider needs is here, in the order you would write it:

1. a settings model (pydantic, ``extra="forbid"`` through :class:`hayswitch.ProviderSettings`);
2. generation options, if the provider accepts more than the common ones;
3. the :class:`hayswitch.Provider` subclass: ``name``, ``settings_model``, ``options_model``,
   ``capabilities`` and the hooks ``setup``, ``_embed``, ``_generate``, ``_stream``;
4. ``contract_settings()``, which tells ``hayswitch check`` how to run the contract kit.

The public methods (``embed_documents``, ``generate``, ``stream``, the async twins) come from the
base class: it validates inputs, batches at ``capabilities.max_batch_size``, checks every
response and applies the retry policy, so the hooks only do the backend work.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import Field

from hayswitch import (
    Capabilities,
    EmbeddingResult,
    GenerationChunk,
    GenerationOptions,
    GenerationResult,
    InputType,
    InvalidInputError,
    Message,
    Provider,
    ProviderSettings,
    Usage,
)
from hayswitch.types import FinishReason

__all__ = ["WordbagOptions", "WordbagProvider", "WordbagSettings", "bag_of_words_vector", "extract_answer"]

_WORD = re.compile(r"\w+", re.UNICODE)
# Sentence boundaries: end punctuation, blank lines, and line breaks before a list item or a
# Markdown heading (single line breaks inside a paragraph are just wrapping).
_SENTENCE_END = re.compile(r"(?<=[^\d\s][.!?])\s+|\n\s*\n|\n(?=\s*(?:[-*+]|\d+[.)]|#+)\s)")
_HEADING_LINE = re.compile(r"^(\s*#+\s.*)$", re.MULTILINE)
_LIST_OR_HEADING = re.compile(r"^(?:[-*+]|\d+[.)]|#+)\s+")
_QUESTION_LINE = re.compile(r"^\s*(?:query|question)\s*:\s*(?P<q>.+?)\s*$", re.IGNORECASE | re.MULTILINE)
# A small English stop-word list: enough to keep "the"/"is" from dominating overlaps.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
    ]
)
NO_ANSWER = "I could not find an answer in the given text."


class WordbagSettings(ProviderSettings):
    """Settings of the ``wordbag`` provider (all optional).

    Secrets: this provider needs none. A provider that does declares them as
    ``api_key: SecretField = Secret.from_env_var("MYAPI_KEY")`` and resolves them in ``setup()``.
    """

    dimension: int = Field(default=256, ge=8, le=8192, description="Size of the hashed embedding vectors.")
    ngram_max: int = Field(default=2, ge=1, le=3, description="Longest word n-gram hashed (1 = words only).")
    remove_stopwords: bool = Field(default=True, description="Drop common English words before hashing.")
    max_input_words: int = Field(default=4096, gt=0, description="Longer texts are truncated to this many words.")
    max_sentences: int = Field(default=2, ge=1, le=20, description="Most sentences in an extractive answer.")
    max_tokens: int = Field(default=128, gt=0, description="Default maximum answer length, in words.")


class WordbagOptions(GenerationOptions):
    """Generation options: the common ones plus ``max_sentences`` for one call.

    ``temperature``, ``top_p`` and ``seed`` are accepted (so pipelines written for other providers
    run unchanged) but have no effect: extraction is deterministic.
    """

    max_sentences: int | None = Field(default=None, ge=1, le=20, description="Override of the setting.")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _features(words: list[str], ngram_max: int, remove_stopwords: bool) -> Counter[str]:
    kept = [w for w in words if not (remove_stopwords and w in STOPWORDS)] or words
    counts: Counter[str] = Counter()
    for n in range(1, ngram_max + 1):
        for i in range(len(kept) - n + 1):
            counts[" ".join(kept[i : i + n])] += 1
    return counts


def bag_of_words_vector(
    text: str, *, dimension: int = 256, ngram_max: int = 2, remove_stopwords: bool = True, max_words: int = 4096
) -> list[float]:
    """The provider's vector for ``text``: signed feature hashing of word n-grams with sublinear
    term frequency (``1 + log tf``), L2-normalised. Pure and stable across processes.

    Text without any word character (for example only punctuation or emoji) is hashed by its
    characters, so every non-empty text gets a unit vector.
    """
    words = _words(text)[:max_words]
    counts = _features(words, ngram_max, remove_stopwords) if words else Counter(text.strip())
    vector = [0.0] * dimension
    for feature, tf in counts.items():
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8, person=b"wordbag").digest()
        value = int.from_bytes(digest, "little")
        sign = 1.0 if value >> 63 else -1.0
        vector[value % dimension] += sign * (1.0 + math.log(tf))
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:  # every feature cancelled out (vanishingly rare): fall back to one bucket
        vector[0], norm = 1.0, 1.0
    return [x / norm for x in vector]


def _split_question(prompt: str) -> tuple[str, str]:
    """(question, context) of a prompt: a ``Query:``/``Question:`` line, else a final question
    sentence, else the whole prompt as both."""
    # The last one: templates put the question after the documents.
    match = next(reversed(list(_QUESTION_LINE.finditer(prompt))), None)
    if match is not None:
        return match["q"], prompt[: match.start()] + prompt[match.end() :]
    sentences = [s for s in _SENTENCE_END.split(prompt.strip()) if s.strip()]
    if len(sentences) > 1 and sentences[-1].rstrip().endswith("?"):
        return sentences[-1], " ".join(sentences[:-1])
    return prompt, prompt


def _pieces(context: str) -> list[tuple[str, str]]:
    """The context as (kind, sentence) pairs: kind is ``"heading"``, ``"item"`` (a list item),
    ``"intro"`` (a sentence that ends with ``:``) or ``"text"``; whitespace is normalised."""
    pieces = []
    context = _HEADING_LINE.sub(r"\1\n", context)  # a heading line is a piece of its own
    for raw in _SENTENCE_END.split(context):
        text = " ".join(raw.split())
        marker = _LIST_OR_HEADING.match(text)
        sentence = _LIST_OR_HEADING.sub("", text)
        if not sentence or not _words(sentence):
            continue
        if marker and marker.group().startswith("#"):
            kind = "heading"
        elif marker:
            kind = "item"
        elif sentence.endswith(":"):
            kind = "intro"
        else:
            kind = "text"
        pieces.append((kind, sentence))
    return pieces


def extract_answer(prompt: str, *, max_sentences: int = 2) -> str:
    """The sentences of ``prompt``'s context that best match its question, in context order.

    Scoring: for each sentence, the sum of the inverse sentence frequencies of the question's
    content words it contains, divided by the square root of its length (so short, specific
    sentences beat long ones that mention everything). Further sentences are added only when they
    score at least 60% of the best. Headings and template labels (``Documents:``) are never part
    of an answer; a chosen sentence that introduces a list (it ends with ``:``) brings the list
    items that follow it.
    """
    question, context = _split_question(prompt)
    query_words = {w for w in _words(question) if w not in STOPWORDS} or set(_words(question))
    pieces = [
        (kind, sentence)
        for kind, sentence in _pieces(context)
        if kind != "heading" and sentence != question.strip() and not (kind == "intro" and len(_words(sentence)) < 3)
    ]
    if not pieces:
        pieces = [("text", question.strip())]
    bags = [set(_words(sentence)) for _, sentence in pieces]
    document_frequency: Counter[str] = Counter()
    for bag in bags:
        document_frequency.update(bag & query_words)
    total = len(pieces)
    scored = []
    for index, bag in enumerate(bags):
        score = sum(math.log((total + 1) / (document_frequency[w] + 0.5)) for w in bag & query_words)
        if score > 0:
            scored.append((score / math.sqrt(len(bag)), index))
    if not scored:
        return NO_ANSWER
    ranked = sorted(scored, key=lambda item: (-item[0], item[1]))
    # Further sentences only when they match nearly as well as the best one.
    chosen = {index for score, index in ranked[:max_sentences] if score >= 0.6 * ranked[0][0]}
    for index in sorted(chosen):
        if pieces[index][0] == "intro":  # "The steps are:" -> the steps
            follower = index + 1
            while follower < len(pieces) and pieces[follower][0] == "item":
                chosen.add(follower)
                follower += 1
    return " ".join(pieces[index][1] for index in sorted(chosen))


class WordbagProvider(Provider):
    """Hashed bag-of-words embeddings and extractive answers: no model, no network, no SDK."""

    # --- what the registry and the components read -------------------------------------------
    name: ClassVar[str] = "wordbag"
    settings_model: ClassVar[type[ProviderSettings]] = WordbagSettings
    options_model: ClassVar[type[GenerationOptions]] = WordbagOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        embeddings=True,
        generation=True,
        streaming=True,
        max_batch_size=128,
        embedding_dimension=None,  # depends on the `dimension` setting; see embedding_dimension
        normalized_embeddings=True,
        long_text="truncate",
        max_concurrency=1,  # pure CPU work: threads would not help
        deterministic=True,
    )
    # No `embedding_model_setting`: the model id is derived from the settings (see below).
    vector_settings: ClassVar[tuple[str, ...]] = ("dimension", "ngram_max", "remove_stopwords")

    settings: WordbagSettings

    # --- hooks ---------------------------------------------------------------------------------
    def setup(self) -> None:
        """Nothing to connect to. A remote provider resolves its secrets and builds its client here."""
        s = self.settings
        self._model_id = f"wordbag-{s.dimension}d-{s.ngram_max}gram" + ("" if s.remove_stopwords else "-all")

    @property
    def embedding_model_id(self) -> str:
        return self._model_id

    @property
    def generation_model_id(self) -> str:
        return "wordbag-extractive"

    @property
    def embedding_dimension(self) -> int:
        return self.settings.dimension

    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        # Documents and queries are embedded alike; a model with instruction prefixes would use
        # `input_type` ("document" or "query") to pick one.
        s = self.settings
        vectors = [
            bag_of_words_vector(
                text,
                dimension=s.dimension,
                ngram_max=s.ngram_max,
                remove_stopwords=s.remove_stopwords,
                max_words=s.max_input_words,
            )
            for text in texts
        ]
        tokens = sum(min(len(_words(t)), s.max_input_words) for t in texts)
        return EmbeddingResult(
            vectors=vectors, model=self._model_id, usage=Usage(prompt_tokens=tokens, total_tokens=tokens)
        )

    def _answer(self, messages: list[Message], options: GenerationOptions) -> tuple[list[str], FinishReason, Usage]:
        if not isinstance(options, WordbagOptions):  # the base class validated against options_model
            raise InvalidInputError(f"Expected WordbagOptions, got {type(options).__name__}.")
        prompt = next((m.content for m in reversed(messages) if m.role == "user"), messages[-1].content)
        answer = extract_answer(prompt, max_sentences=options.max_sentences or self.settings.max_sentences)
        finish: FinishReason = "stop"
        for stop in options.stop or []:
            if stop and stop in answer:
                answer = answer[: answer.index(stop)]
        words = answer.split()
        limit = options.max_tokens or self.settings.max_tokens
        if len(words) > limit:
            words, finish = words[:limit], "length"
        if not words:  # a stop sequence at the very start: say so rather than return nothing
            words = NO_ANSWER.split()
        prompt_tokens = sum(len(_words(m.content)) for m in messages)
        usage = Usage(
            prompt_tokens=prompt_tokens, completion_tokens=len(words), total_tokens=prompt_tokens + len(words)
        )
        return words, finish, usage

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        words, finish, usage = self._answer(messages, options)
        return GenerationResult(text=" ".join(words), finish_reason=finish, model=self.generation_model_id, usage=usage)

    def _stream(self, messages: list[Message], options: GenerationOptions) -> Iterator[GenerationChunk]:
        words, finish, usage = self._answer(messages, options)
        last = len(words) - 1
        for i, word in enumerate(words):
            yield GenerationChunk(
                text=word if i == 0 else " " + word,
                index=i,
                model=self.generation_model_id,
                finish_reason=finish if i == last else None,
                usage=usage if i == last else None,
            )

    # --- how `hayswitch check wordbag` runs the contract kit ------------------------------------
    @classmethod
    def contract_settings(cls, live: bool = False) -> Mapping[str, Any]:
        """Class attributes of :class:`hayswitch.testing.ProviderContractTests` for this provider.

        A provider that talks HTTP returns ``{"settings": ..., "env": {"MYAPI_KEY": "dummy"},
        "cassette_dir": <its cassettes>}`` and, for ``live=True``, real settings and no cassettes.
        This one makes no requests, so live and replay are the same.
        """
        return {"settings": {"dimension": 64}}
