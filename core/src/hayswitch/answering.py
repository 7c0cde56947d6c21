"""Grounded answers from retrieved passages: evidence sentences, a prompt a small model can follow,
and a check that the model's reply says what the evidence says.

The steps, each a plain function so that the Haystack components
(:mod:`haystack_integrations.components.grounding.hayswitch`), ``hayswitch ask`` and your own code
share one behaviour:

1. :func:`sentence_candidates` cuts the retrieved passages into sentences (and list items), each
   remembering its passage, source file and heading.
2. The caller embeds the question and the candidates with the embedding model it already has
   (:meth:`hayswitch.Provider.embed_text` / :meth:`~hayswitch.Provider.embed_documents`);
   :func:`select_evidence` scores every sentence against the question -- cosine similarity of the
   vectors plus the IDF-weighted share of the question's words found in the sentence -- and keeps
   the best one(s). When even the best sentence scores below :attr:`GroundingPolicy.min_score`,
   the documents do not hold the answer and nothing should be generated.
3. :func:`answer_messages` builds a short chat for the generator: a one-line system prompt, the
   evidence sentences, then the question restated and a length budget.
4. :func:`ground_reply` checks the reply against the evidence. A reply that brings words or numbers
   the evidence does not contain, or that only repeats the question, is replaced by the evidence
   sentence itself, so what is printed is always supported by a cited source.

Example with the built-in ``fake`` provider (deterministic, no model)::

    from hayswitch import get_provider
    from hayswitch.answering import Passage, answer

    provider = get_provider("fake")
    passages = [Passage("The ferry leaves Port Amsel at 07:40. The crossing takes 95 minutes.",
                        meta={"file_path": "ferry.md"})]
    result = answer("When does the ferry leave?", passages, provider)
    print(result.text, result.status, result.evidence[0].source)

This module does not import Haystack.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hayswitch.types import GenerationOptions, Message

__all__ = [
    "NOT_FOUND",
    "Candidate",
    "Evidence",
    "EvidenceSelection",
    "GroundedAnswer",
    "GroundingPolicy",
    "Passage",
    "answer",
    "answer_messages",
    "content_terms",
    "ground_reply",
    "select_evidence",
    "sentence_candidates",
    "split_sentences",
]

NOT_FOUND = "I could not find this in the indexed documents."
"""What is answered when the retrieved passages do not hold the answer."""

AnswerStatus = Literal["generated", "extracted", "not_found"]

SYSTEM_PROMPT = "You answer questions in one short sentence, using only the given facts."
"""Short on purpose: a 135M-parameter model follows one instruction, not a paragraph of them."""


@dataclass(frozen=True)
class GroundingPolicy:
    """Thresholds and budgets of evidence selection and of the drift check.

    The defaults were calibrated with all-MiniLM-L6-v2 and SmolLM2-135M-Instruct on
    ``tests/fixtures/qa/questions.json`` and checked on the held-out ``heldout.json``
    (``bench/qa_bench.py``, results in ``bench/README.md``).

    :param min_score: the best sentence must score at least this (0..1) for the documents to be
        considered to hold the answer; below it the answer is :data:`NOT_FOUND`.
    :param semantic_weight: weight of the cosine similarity in a sentence's score; the rest is the
        lexical share of the question's (IDF-weighted) words found in the sentence.
    :param max_evidence: most sentences cited and given to the model.
    :param evidence_margin: a further sentence is cited only if its score is within this margin of
        the best one.
    :param max_unsupported: largest share of the reply's content words that may be absent from the
        evidence and the question before the reply counts as drift. Numbers must always be in the
        evidence.
    :param max_answer_words: a longer reply counts as drift (the model is listing, not answering).
    :param max_tokens: generation budget for the phrased answer.
    """

    min_score: float = 0.42
    semantic_weight: float = 0.6
    max_evidence: int = 2
    evidence_margin: float = 0.05
    max_unsupported: float = 0.25
    max_answer_words: int = 60
    max_tokens: int = 64

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be between 0 and 1, got {self.min_score}.")
        if not 0.0 <= self.semantic_weight <= 1.0:
            raise ValueError(f"semantic_weight must be between 0 and 1, got {self.semantic_weight}.")
        if self.max_evidence < 1:
            raise ValueError(f"max_evidence must be at least 1, got {self.max_evidence}.")
        if self.evidence_margin < 0:
            raise ValueError(f"evidence_margin must be >= 0, got {self.evidence_margin}.")
        if not 0.0 <= self.max_unsupported <= 1.0:
            raise ValueError(f"max_unsupported must be between 0 and 1, got {self.max_unsupported}.")
        if self.max_answer_words < 1 or self.max_tokens < 1:
            raise ValueError("max_answer_words and max_tokens must be at least 1.")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_value(cls, value: GroundingPolicy | Mapping[str, Any] | None) -> GroundingPolicy:
        """A policy from a policy, a dict of its fields (unknown keys refused) or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, GroundingPolicy):
            return value
        unknown = sorted(set(value) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"Unknown grounding policy field(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}.")
        return cls(**dict(value))


@dataclass(frozen=True)
class Passage:
    """A retrieved passage: its text, retrieval score (any scale, shown only) and meta
    (``file_path``, ``passage``, ``heading`` are used when present)."""

    text: str
    score: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """One sentence of a passage, before scoring.

    :param text: the sentence as shown to users and the model.
    :param embed_text: what is embedded: the sentence prefixed with its passage's heading, so that
        a sentence such as "It opened in 1978." keeps its subject.
    :param passage_index: index of its passage in the input list.
    :param position: index of the sentence within its passage.
    :param is_list: the sentence introduces a list ("The steps are:") and holds its items.
    """

    text: str
    embed_text: str
    passage_index: int
    position: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    is_list: bool = False


@dataclass(frozen=True)
class Evidence:
    """A scored sentence: ``score`` combines ``semantic`` (cosine) and ``lexical`` (question word
    coverage), both 0..1. ``is_list``: a sentence introducing a list, with the list's items."""

    text: str
    score: float
    semantic: float
    lexical: float
    passage_index: int
    position: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    is_list: bool = False

    @property
    def source(self) -> str:
        """``file, passage N`` (or whatever of it the meta holds)."""
        file = self.meta.get("file_path") or self.meta.get("file") or self.meta.get("source")
        passage = self.meta.get("passage")
        parts = [str(file) if file else f"passage {self.passage_index + 1}"]
        if file and passage is not None:
            parts.append(f"passage {passage}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source": self.source,
            "score": round(self.score, 4),
            "semantic": round(self.semantic, 4),
            "lexical": round(self.lexical, 4),
            "passage_index": self.passage_index,
            "is_list": self.is_list,
            "file": self.meta.get("file_path"),
            "passage": self.meta.get("passage"),
        }


@dataclass(frozen=True)
class EvidenceSelection:
    """The outcome of :func:`select_evidence`.

    :param found: whether the best sentence reached the policy's ``min_score``.
    :param evidence: the cited sentences, best first (empty when not found).
    :param ranked: every candidate, scored, best first (for inspection and benchmarks).
    :param best_score: the best sentence's score (0 without candidates).
    """

    question: str
    found: bool
    evidence: list[Evidence]
    ranked: list[Evidence]
    best_score: float

    @property
    def needs_generation(self) -> bool:
        """Whether a generator should phrase the answer: found, and the best evidence is a
        sentence (a list -- steps, options -- is shown as written: a one-sentence rephrasing of a
        list by a small model drops or merges items)."""
        return self.found and bool(self.evidence) and not self.evidence[0].is_list


@dataclass(frozen=True)
class GroundedAnswer:
    """A checked answer.

    :param text: what to show: the model's reply (``generated``), the evidence sentence(s)
        (``extracted``, when the reply drifted or no generator was used) or :data:`NOT_FOUND`.
    :param status: ``generated``, ``extracted`` or ``not_found``.
    :param evidence: the sentences the answer rests on, best first, each with its source.
    :param reply: the model's own reply, kept even when it was rejected ("" when none).
    :param reason: why the reply was rejected, or "" when it was not.
    """

    question: str
    text: str
    status: AnswerStatus
    evidence: list[Evidence]
    reply: str = ""
    reason: str = ""
    score: float = 0.0

    @property
    def found(self) -> bool:
        return self.status != "not_found"

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "status": self.status,
            "evidence": [e.to_dict() for e in self.evidence],
            "reply": self.reply,
            "reason": self.reason,
            "score": round(self.score, 4),
        }


# ---------------------------------------------------------------------------- text handling

# Sentence ends: ., ! or ? followed by a space and an upper-case letter, digit, quote or markup;
# list markers (after the whitespace clean-up of indexing, "* a * b" or "1. a 2. b") start items.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[*`_]*[A-Z0-9])")
_LIST_ITEM = re.compile(r"(?:^|\s+)(?:[*+\u2022-]|\d{1,2}[.)])\s+(?=\S)")
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Dr|Mr|Mrs|Ms|Prof|St|No|Fig|cf|approx|incl)\.$", re.IGNORECASE)
_MARKUP = re.compile(r"(\*\*|__|`)")
_MIN_SENTENCE_CHARS = 12
_MAX_SENTENCE_CHARS = 400


@dataclass(frozen=True)
class _Unit:
    text: str
    item: int | None  # index of the list item the unit belongs to (None: running text)
    marker: str = ""  # the item's marker ("1.", "-") on the item's first unit


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    item_count = 0
    for block in re.split(r"\n\s*\n", text):
        bounds = list(_LIST_ITEM.finditer(block))
        pieces: list[tuple[str, int | None, str]] = []
        head = block[: bounds[0].start()] if bounds else block
        pieces.append((head, None, ""))
        for i, match in enumerate(bounds):
            end = bounds[i + 1].start() if i + 1 < len(bounds) else len(block)
            marker = match.group(0).strip()
            pieces.append((block[match.end() : end], item_count, "-" if marker in "*+\u2022-" else marker))
            item_count += 1
        for piece, item, marker in pieces:
            if not piece.strip():
                continue
            merged: list[str] = []
            for sentence in _SENTENCE_END.split(piece.replace("\n", " ")):
                sentence = sentence.strip()
                if not sentence:
                    continue
                if merged and _ABBREVIATIONS.search(merged[-1]):
                    merged[-1] = f"{merged[-1]} {sentence}"
                else:
                    merged.append(sentence)
            units.extend(_Unit(m, item, marker if j == 0 else "") for j, m in enumerate(merged))
    out: list[_Unit] = []
    for unit in units:
        body = re.sub(r"\s+", " ", unit.text).strip()
        marker = unit.marker
        while len(body) > _MAX_SENTENCE_CHARS:
            cut = max(body.rfind("; ", 0, _MAX_SENTENCE_CHARS), body.rfind(", ", 0, _MAX_SENTENCE_CHARS))
            cut = cut + 1 if cut > _MAX_SENTENCE_CHARS // 3 else _MAX_SENTENCE_CHARS
            out.append(_Unit(body[:cut].strip(), unit.item, marker))
            body, marker = body[cut:].strip(), ""
        if body:
            out.append(_Unit(body, unit.item, marker))
    return [u for u in out if len(u.text) >= _MIN_SENTENCE_CHARS or re.search(r"\d", u.text) or u.item is not None]


def split_sentences(text: str) -> list[str]:
    """Cut text into sentences and list items (markdown bullets and numbered items start a new
    unit), merging pieces cut after common abbreviations such as "Dr." or "e.g.".

    Very long units (tables, code) are cut at ``;`` / ``,`` boundaries or, failing that, at 400
    characters, so that each unit stays within the embedding model's window.
    """
    return [u.text for u in _units(text)]


_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each else ever few for from
    further get gets got had has have having he her here hers herself him himself his how i if in into
    is it its itself just me might more most much must my myself no nor not now of off on once only or
    other our ours ourselves out over own same shall she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up upon very via was we
    were what when where which while who whom whose why will with within without would you your yours
    yourself yourselves one ones many thing things kind use used using way tell please know called name
    named""".split()  # noqa: SIM905 - a word list reads better as text
)
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[A-Za-z][A-Za-z0-9_'+]*(?:-[A-Za-z0-9_]+)*")
_NUMBER = re.compile(r"^\d+(?:[.,:]\d+)*$")
_IDENTIFIER = re.compile(r"[_+]|\d")  # code-like words (snake_case, Ctrl+K, B-114) must be copied exactly


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """The English (Porter2) Snowball stem of a word: "closed", "closes" -> "close"; tokens with
    digits or symbols are kept as they are."""
    if len(word) <= 3 or not word.isalpha():
        return word
    return str(_stemmer().stemWord(word))


def content_terms(text: str) -> list[str]:
    """The content words of ``text``: lower-cased, stop words removed, lightly stemmed; numbers
    are kept whole (``"2,130"`` and ``"2130"`` both give ``2130``), hyphenated words give the whole
    word and its parts."""
    terms: list[str] = []
    for token in _TOKEN.findall(text.replace("\u2019", "'")):
        lowered = token.lower().strip("'")
        if lowered.endswith("'s"):
            lowered = lowered[:-2]
        if _NUMBER.match(lowered):
            terms.append(lowered.replace(",", ""))
            continue
        if lowered in _STOPWORDS or len(lowered) < 2:
            continue
        terms.append(lowered if "-" in lowered else _stem(lowered))
        if "-" in lowered:
            terms.extend(_stem(p) for p in lowered.split("-") if p and p not in _STOPWORDS and len(p) > 1)
    return terms


# ---------------------------------------------------------------------------- evidence


_MAX_LIST_ITEMS = 10
_MAX_LIST_CHARS = 900


def sentence_candidates(passages: Sequence[Passage]) -> list[Candidate]:
    """Every sentence of every passage, in order, with the passage's meta.

    A sentence that ends with a colon and is followed by a list ("The steps are:" then "1. ...",
    "2. ...") is incomplete on its own: it becomes one candidate with the list items after it
    (at most 10 items / 900 characters), each item with its marker. The items also remain
    candidates of their own.
    """
    candidates: list[Candidate] = []
    for index, passage in enumerate(passages):
        heading = str(passage.meta.get("heading") or "").strip()
        units = _units(passage.text or "")
        for position, unit in enumerate(units):
            shown = _MARKUP.sub("", unit.text).strip()
            is_list = False
            if shown.endswith(":") and position + 1 < len(units) and units[position + 1].item is not None:
                items: list[str] = []
                for follower in units[position + 1 :]:
                    if follower.item is None or (follower.marker and len(items) >= _MAX_LIST_ITEMS):
                        break
                    piece = _MARKUP.sub("", follower.text).strip()
                    if sum(len(i) + 1 for i in items) + len(piece) > _MAX_LIST_CHARS:
                        break
                    items.append(f"{follower.marker} {piece}" if follower.marker else piece)
                shown = f"{shown} {' '.join(items)}"
                is_list = bool(items)
            embed = f"{heading}: {shown}" if heading else shown
            candidates.append(Candidate(shown, embed, index, position, dict(passage.meta), is_list))
    return candidates


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def select_evidence(
    question: str,
    candidates: Sequence[Candidate],
    question_vector: Sequence[float] | None,
    candidate_vectors: Sequence[Sequence[float]] | None,
    policy: GroundingPolicy | None = None,
) -> EvidenceSelection:
    """Score every candidate sentence against the question and pick the evidence.

    A sentence's score is ``w * cosine + (1 - w) * lexical``, where ``lexical`` is the share of
    the question's content words (weighted by their inverse frequency among the candidates, so a
    word every sentence shares counts little and a word no sentence has counts most) found in the
    sentence, or at half weight in its passage's heading. Without vectors (``None``) the score is
    lexical only.

    :raises ValueError: if the number of vectors differs from the number of candidates.
    """
    policy = policy or GroundingPolicy()
    use_vectors = question_vector is not None and candidate_vectors is not None
    if use_vectors and len(candidate_vectors or []) != len(candidates):
        raise ValueError(f"Got {len(candidate_vectors or [])} vectors for {len(candidates)} candidate sentences.")
    q_terms = list(dict.fromkeys(content_terms(question)))
    sentence_terms = [set(content_terms(c.text)) for c in candidates]
    heading_terms = [set(content_terms(str(c.meta.get("heading") or ""))) for c in candidates]
    n = max(len(candidates), 1)
    idf = {t: math.log(1 + n / (1 + sum(t in s for s in sentence_terms))) for t in q_terms}
    total = sum(idf.values())
    weight = policy.semantic_weight if use_vectors else 0.0
    ranked: list[Evidence] = []
    for i, candidate in enumerate(candidates):
        if total:
            covered = sum(
                idf[t] * (1.0 if t in sentence_terms[i] else 0.5 if t in heading_terms[i] else 0.0) for t in q_terms
            )
            lexical = covered / total
        else:
            lexical = 0.0
        semantic = max(0.0, _cosine(question_vector, candidate_vectors[i])) if use_vectors else 0.0  # type: ignore[arg-type,index]
        score = weight * semantic + (1.0 - weight) * lexical
        ranked.append(
            Evidence(
                candidate.text,
                score,
                semantic,
                lexical,
                candidate.passage_index,
                candidate.position,
                candidate.meta,
                candidate.is_list,
            )
        )
    ranked.sort(key=lambda e: (-e.score, e.passage_index, e.position))
    best = ranked[0].score if ranked else 0.0
    found = bool(ranked) and best >= policy.min_score
    evidence: list[Evidence] = []
    if found:
        evidence = [e for e in ranked if e.score >= best - policy.evidence_margin][: policy.max_evidence]
    return EvidenceSelection(question=question, found=found, evidence=evidence, ranked=ranked, best_score=best)


def answer_messages(
    question: str, evidence: Sequence[Evidence], policy: GroundingPolicy | None = None
) -> list[Message]:
    """The chat for the generator: a one-line system prompt, the evidence as a list of facts, and
    the question restated after them with the length budget (small models follow the last line)."""
    facts = "\n".join(f"- {e.text}" for e in evidence)
    user = f"Facts:\n{facts}\n\nQuestion: {question.strip()}\nAnswer the question in one short sentence."
    return [Message.system(SYSTEM_PROMPT), Message.user(user)]


def generation_options(policy: GroundingPolicy | None = None) -> GenerationOptions:
    """Greedy decoding within the policy's token budget, stopping at a blank line."""
    policy = policy or GroundingPolicy()
    return GenerationOptions(max_tokens=policy.max_tokens, temperature=0.0, stop=["\n\n"])


def _extracted(question: str, selection: EvidenceSelection, reply: str, reason: str) -> GroundedAnswer:
    cited = sorted(selection.evidence, key=lambda e: (e.passage_index, e.position))
    return GroundedAnswer(
        question=question,
        text=" ".join(e.text for e in cited),
        status="extracted",
        evidence=selection.evidence,
        reply=reply,
        reason=reason,
        score=selection.best_score,
    )


def ground_reply(
    question: str,
    reply: str | None,
    selection: EvidenceSelection,
    policy: GroundingPolicy | None = None,
    *,
    finish_reason: str | None = None,
) -> GroundedAnswer:
    """Check the generator's ``reply`` against the selected evidence.

    * Not found: :data:`NOT_FOUND`, whatever the reply says.
    * Best evidence is a list (see :attr:`EvidenceSelection.needs_generation`): the list, as written.
    * The reply is kept (``generated``) only if it is short, every number and code-like word
      (``snake_case``, ``Ctrl+K``) in it appears in the evidence, at most ``max_unsupported`` of
      its content words are absent from both the evidence and the question, and it carries
      something from the best sentence that the question does not (otherwise it only restates
      the question).
    * A reply cut at the token budget (``finish_reason="length"``) is unfinished, so it is not kept.
    * Anything else falls back to the evidence sentence(s) (``extracted``), with the reason.
    """
    policy = policy or GroundingPolicy()
    if not selection.found:
        return GroundedAnswer(
            question=question,
            text=NOT_FOUND,
            status="not_found",
            evidence=[],
            reply=reply or "",
            reason="no sentence of the retrieved passages matches the question well enough",
            score=selection.best_score,
        )
    text = (reply or "").strip()
    if not selection.needs_generation:
        return _extracted(question, selection, text, "the evidence is a list: it is shown as written")
    if not text:
        return _extracted(question, selection, "", "no reply")
    if finish_reason == "length":
        return _extracted(question, selection, text, "the reply was cut at the token budget")
    words = text.split()
    if len(words) > policy.max_answer_words:
        return _extracted(question, selection, text, f"the reply is longer than {policy.max_answer_words} words")
    evidence_terms: set[str] = set()
    for e in selection.evidence:
        evidence_terms |= set(content_terms(e.text)) | set(content_terms(str(e.meta.get("heading") or "")))
    question_terms = set(content_terms(question))
    reply_terms = content_terms(text)
    if not reply_terms:
        return _extracted(question, selection, text, "the reply has no content words")
    numbers = {t for t in reply_terms if _NUMBER.match(t)}
    missing_numbers = sorted(numbers - evidence_terms - question_terms)
    if missing_numbers:
        return _extracted(question, selection, text, f"the reply states numbers not in the evidence: {missing_numbers}")
    identifiers = {t for t in reply_terms if _IDENTIFIER.search(t)}
    missing_identifiers = sorted(identifiers - evidence_terms - question_terms)
    if missing_identifiers:
        return _extracted(
            question, selection, text, f"the reply names identifiers not in the evidence: {missing_identifiers}"
        )
    unsupported = [t for t in reply_terms if t not in evidence_terms and t not in question_terms]
    if len(unsupported) / len(reply_terms) > policy.max_unsupported:
        return _extracted(
            question, selection, text, f"the reply uses words not in the evidence: {sorted(set(unsupported))[:8]}"
        )
    best_terms = set(content_terms(selection.evidence[0].text))
    if not (set(reply_terms) & (best_terms - question_terms)):
        return _extracted(question, selection, text, "the reply adds nothing from the evidence to the question")
    return GroundedAnswer(
        question=question,
        text=text,
        status="generated",
        evidence=selection.evidence,
        reply=text,
        score=selection.best_score,
    )


# ---------------------------------------------------------------------------- one call


def answer(
    question: str,
    passages: Sequence[Passage],
    provider: Any,
    *,
    generator: Any = None,
    policy: GroundingPolicy | Mapping[str, Any] | None = None,
    generate: bool = True,
    on_reply: Callable[[str], None] | None = None,
) -> GroundedAnswer:
    """Answer ``question`` from ``passages``: select evidence with ``provider``'s embeddings, have
    ``generator`` (default: the same provider) phrase it, and check the reply.

    :param provider: a :class:`hayswitch.Provider` with embeddings (the one the index was built
        with, or any other: sentences and question are embedded together here).
    :param generator: a :class:`hayswitch.Provider` with generation; None uses ``provider``.
    :param generate: False skips the model and answers with the evidence sentences.
    :param on_reply: called with the model's raw reply before it is checked (for logging).
    """
    rules = GroundingPolicy.from_value(policy)
    candidates = sentence_candidates(passages)
    if not candidates:
        selection = EvidenceSelection(question, False, [], [], 0.0)
        return ground_reply(question, None, selection, rules)
    q_vec = provider.embed_text(question).vector
    vectors = provider.embed_documents([c.embed_text for c in candidates]).vectors
    selection = select_evidence(question, candidates, q_vec, vectors, rules)
    if not selection.found or not generate:
        return (
            ground_reply(question, None, selection, rules)
            if not selection.found
            else _extracted(question, selection, "", "generation disabled")
        )
    if not selection.needs_generation:
        return ground_reply(question, None, selection, rules)
    llm = generator or provider
    result = llm.generate(answer_messages(question, selection.evidence, rules), generation_options(rules))
    if on_reply is not None:
        on_reply(result.text)
    return ground_reply(question, result.text, selection, rules, finish_reason=result.finish_reason)
