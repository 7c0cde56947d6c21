"""AnswerGrounder: keep a generator's reply only when the evidence supports it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.dataclasses import ChatMessage, GeneratedAnswer

from hayswitch import InvalidInputError
from hayswitch.answering import Evidence, EvidenceSelection, GroundedAnswer, GroundingPolicy, ground_reply

__all__ = ["AnswerGrounder"]

_EVIDENCE_KEYS = (
    "evidence_semantic",
    "evidence_lexical",
    "evidence_passage_index",
    "evidence_position",
    "evidence_source",
    "evidence_is_list",
)


def _evidence(doc: Any, index: int) -> Evidence:
    if not isinstance(doc, Document):
        raise InvalidInputError(
            f"AnswerGrounder: evidence[{index}] is a {type(doc).__name__}, not a Haystack Document."
        )
    meta = {k: v for k, v in doc.meta.items() if k not in _EVIDENCE_KEYS}
    return Evidence(
        text=doc.content or "",
        score=float(doc.score or 0.0),
        semantic=float(doc.meta.get("evidence_semantic", 0.0)),
        lexical=float(doc.meta.get("evidence_lexical", 0.0)),
        passage_index=int(doc.meta.get("evidence_passage_index", index)),
        position=int(doc.meta.get("evidence_position", 0)),
        meta=meta,
        is_list=bool(doc.meta.get("evidence_is_list", False)),
    )


def _reply_text(replies: list[ChatMessage] | list[str] | None) -> tuple[str | None, str | None]:
    """The first reply's text and finish reason (from a ChatMessage's meta; None for strings)."""
    if not replies:
        return None, None
    first = replies[0]
    if isinstance(first, ChatMessage):
        return first.text or "", first.meta.get("finish_reason")
    if isinstance(first, str):
        return first, None
    raise InvalidInputError(f"AnswerGrounder: replies must be ChatMessages or strings, got {type(first).__name__}.")


@component
class AnswerGrounder:
    """Checks a generator's reply against the evidence it was given and answers honestly.

    * No evidence (``EvidenceSelector`` found nothing good enough): the answer is
      ``"I could not find this in the indexed documents."``.
    * A reply that states numbers or (more than a small share of) words the evidence does not
      contain, only repeats the question, runs long, or was cut at the generator's token budget
      (``meta["finish_reason"] == "length"``), is replaced by the evidence sentence(s).
    * Otherwise the reply is the answer.

    The output ``answers`` holds one Haystack ``GeneratedAnswer``: ``data`` is the answer text,
    ``documents`` the evidence sentences it rests on (each with ``meta["evidence_source"]``, e.g.
    ``"docs/ferry.md, passage 2"``), and ``meta`` holds ``status`` (``generated``, ``extracted`` or
    ``not_found``), ``reply`` (the model's own text), ``reason`` (why it was rejected) and ``score``.

    Usage example (``EvidenceSelector`` -> chat generator -> ``AnswerGrounder``):

    ```python
    from haystack import Document, Pipeline
    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator
    from haystack_integrations.components.grounding.hayswitch import AnswerGrounder, EvidenceSelector

    pipe = Pipeline()
    pipe.add_component("evidence", EvidenceSelector(provider="fake"))
    pipe.add_component("llm", ProviderChatGenerator(provider="fake"))
    pipe.add_component("grounder", AnswerGrounder())
    pipe.connect("evidence.messages", "llm.messages")
    pipe.connect("llm.replies", "grounder.replies")
    pipe.connect("evidence.evidence", "grounder.evidence")
    docs = [Document(content="Tickets cost 14 tallers.", meta={"file_path": "ferry.md"})]
    question = "How much does a ticket cost?"
    result = pipe.run({"evidence": {"question": question, "documents": docs}, "grounder": {"question": question}})
    answer = result["grounder"]["answers"][0]
    print(answer.data, answer.meta["status"], answer.documents[0].meta["evidence_source"])
    ```
    """

    def __init__(self, *, policy: Mapping[str, Any] | None = None) -> None:
        """Create the grounder.

        :param policy: fields of :class:`hayswitch.answering.GroundingPolicy` (the drift check uses
            ``max_unsupported`` and ``max_answer_words``); None uses the defaults.
        :raises InvalidInputError: for an unknown or invalid policy field.
        """
        try:
            self._policy = GroundingPolicy.from_value(policy)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"AnswerGrounder: {exc}") from None
        self.policy = dict(policy) if policy is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component."""
        return default_to_dict(self, policy=self.policy)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerGrounder:
        """Deserialise the component from :meth:`to_dict`'s dict."""
        return default_from_dict(cls, data)

    def ground(
        self,
        question: str,
        evidence: list[Document],
        replies: list[ChatMessage] | list[str] | None = None,
        best_score: float | None = None,
    ) -> GroundedAnswer:
        """The checked answer as a :class:`hayswitch.answering.GroundedAnswer` (what :meth:`run`
        wraps into a Haystack ``GeneratedAnswer``)."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError("AnswerGrounder: question must be a non-empty string.")
        items = [_evidence(doc, i) for i, doc in enumerate(evidence or [])]
        best = best_score if best_score is not None else (items[0].score if items else 0.0)
        selection = EvidenceSelection(
            question=question.strip(), found=bool(items), evidence=items, ranked=items, best_score=best
        )
        text, finish_reason = _reply_text(replies)
        return ground_reply(question.strip(), text, selection, self._policy, finish_reason=finish_reason)

    @component.output_types(answers=list[GeneratedAnswer])
    def run(
        self,
        question: str,
        evidence: list[Document],
        replies: list[ChatMessage] | list[str] | None = None,
        best_score: float | None = None,
    ) -> dict[str, Any]:
        """Check ``replies[0]`` against ``evidence``.

        :param question: the user's question.
        :param evidence: ``EvidenceSelector``'s evidence (empty: the documents lack the answer).
        :param replies: the generator's replies (ChatMessages or strings); None when the generator
            did not run, in which case the evidence sentence is the answer.
        :param best_score: ``EvidenceSelector``'s best score, reported in the answer's meta.
        :returns: ``answers``: one ``GeneratedAnswer``.
        :raises InvalidInputError: for an empty question or inputs of the wrong type.
        """
        grounded = self.ground(question, evidence, replies, best_score)
        evidence_by_text = {doc.content: doc for doc in evidence or []}
        documents = [evidence_by_text[e.text] for e in grounded.evidence if e.text in evidence_by_text]
        answer = GeneratedAnswer(
            data=grounded.text,
            query=grounded.question,
            documents=documents,
            meta={
                "status": grounded.status,
                "reply": grounded.reply,
                "reason": grounded.reason,
                "score": grounded.score,
            },
        )
        return {"answers": [answer]}

    @component.output_types(answers=list[GeneratedAnswer])
    async def run_async(
        self,
        question: str,
        evidence: list[Document],
        replies: list[ChatMessage] | list[str] | None = None,
        best_score: float | None = None,
    ) -> dict[str, Any]:
        """Async twin of :meth:`run` (no I/O: the check is pure computation)."""
        return self.run(question, evidence, replies, best_score)
