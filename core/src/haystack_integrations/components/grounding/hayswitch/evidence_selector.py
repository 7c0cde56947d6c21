"""EvidenceSelector: the sentences of the retrieved documents that answer the question, and a chat
prompt built from them for a (small) generator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.dataclasses import ChatMessage

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting, ProviderComponentBase
from hayswitch import InvalidInputError, RetryPolicy
from hayswitch.answering import (
    Candidate,
    Evidence,
    EvidenceSelection,
    GroundingPolicy,
    Passage,
    answer_messages,
    select_evidence,
    sentence_candidates,
)

__all__ = ["EvidenceSelector", "evidence_to_document"]


def evidence_to_document(evidence: Evidence) -> Document:
    """An evidence sentence as a Haystack ``Document``: ``content`` is the sentence, ``score`` its
    score, and ``meta`` its passage's meta plus ``evidence_semantic``, ``evidence_lexical``,
    ``evidence_passage_index``, ``evidence_position``, ``evidence_source`` and ``evidence_is_list``."""
    meta = dict(evidence.meta)
    meta.update(
        {
            "evidence_semantic": evidence.semantic,
            "evidence_lexical": evidence.lexical,
            "evidence_passage_index": evidence.passage_index,
            "evidence_position": evidence.position,
            "evidence_source": evidence.source,
            "evidence_is_list": evidence.is_list,
        }
    )
    return Document(content=evidence.text, score=evidence.score, meta=meta)


def _passages(documents: Sequence[Any], owner: str) -> list[Passage]:
    if not isinstance(documents, Sequence) or isinstance(documents, str):
        raise InvalidInputError(f"{owner}: documents must be a list of Haystack Documents.")
    passages: list[Passage] = []
    for i, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise InvalidInputError(f"{owner}: documents[{i}] is a {type(doc).__name__}, not a Haystack Document.")
        passages.append(Passage(text=doc.content or "", score=doc.score, meta=dict(doc.meta)))
    return passages


def _question(question: Any, owner: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError(f"{owner}: question must be a non-empty string.")
    return question.strip()


@component
class EvidenceSelector(ProviderComponentBase):
    """Selects the sentences of the retrieved documents that answer a question.

    Each document is cut into sentences (and list items); the question and the sentences are
    embedded with a hayswitch provider (use the one the documents were indexed with: its model is
    usually loaded already) and each sentence is scored by cosine similarity plus the share of the
    question's words it contains. The best sentence(s) become the ``evidence``; when even the best
    one scores below ``policy["min_score"]`` the documents do not hold the answer: ``found`` is
    False and no ``messages`` are emitted, so a generator connected to ``messages`` does not run.
    Neither does it when the best evidence is a list (a sentence such as "The steps are:" with
    the items after it): a list is shown as written rather than rephrased.

    Connect ``messages`` to a chat generator, and ``evidence`` (plus the generator's ``replies``)
    to :class:`AnswerGrounder`.

    Usage example:

    ```python
    from haystack import Document
    from haystack_integrations.components.grounding.hayswitch import EvidenceSelector

    selector = EvidenceSelector(provider="fake")
    docs = [Document(content="The ferry leaves at 07:40. Tickets cost 14 tallers.", meta={"file_path": "ferry.md"})]
    result = selector.run(question="How much does a ticket cost?", documents=docs)
    print(result["found"], result["evidence"][0].content)
    ```
    """

    _model_setting: ClassVar[ModelSetting] = "embedding_model_setting"
    _capability: ClassVar[Capability] = "embeddings"

    def __init__(
        self,
        *,
        provider: str | None = None,
        settings: Mapping[str, Any] | None = None,
        profile: str | None = None,
        model: str | None = None,
        retry: Mapping[str, Any] | RetryPolicy | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the selector. No secret is resolved and no model is loaded here.

        :param provider: registry name of the embedding provider, or None for whichever provider is
            configured (resolved at warm-up).
        :param settings: provider settings (validated against the provider's settings model).
        :param profile: a profile of ``hayswitch.toml`` to take the provider and settings from.
        :param model: the embedding model id; written into the provider's embedding-model setting.
        :param retry: retry policy for failed requests (fields of :class:`hayswitch.RetryPolicy`).
        :param policy: fields of :class:`hayswitch.answering.GroundingPolicy` (``min_score``,
            ``semantic_weight``, ``max_evidence``, ``evidence_margin``, ...); None uses the defaults.
        :raises InvalidInputError: for an unknown or invalid policy field.
        """
        try:
            self._policy = GroundingPolicy.from_value(policy)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"EvidenceSelector: {exc}") from None
        self.policy = dict(policy) if policy is not None else None
        self._init_provider_options(provider=provider, settings=settings, profile=profile, model=model, retry=retry)

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (provider by name, secrets as env-var references)."""
        return default_to_dict(self, **self._provider_init_parameters(), policy=self.policy)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvidenceSelector:
        """Deserialise the component from :meth:`to_dict`'s dict."""
        return default_from_dict(cls, data)

    def _output(self, question: str, selection: EvidenceSelection) -> dict[str, Any]:
        out: dict[str, Any] = {
            "evidence": [evidence_to_document(e) for e in selection.evidence],
            "found": selection.found,
            "best_score": selection.best_score,
        }
        if selection.needs_generation:
            out["messages"] = [
                ChatMessage.from_system(m.content) if m.role == "system" else ChatMessage.from_user(m.content)
                for m in answer_messages(question, selection.evidence, self._policy)
            ]
        return out

    def _select(
        self, question: str, candidates: list[Candidate], q_vec: list[float] | None, vectors: list[list[float]] | None
    ) -> EvidenceSelection:
        return select_evidence(question, candidates, q_vec, vectors, self._policy)

    @component.output_types(messages=list[ChatMessage], evidence=list[Document], found=bool, best_score=float)
    def run(self, question: str, documents: list[Document]) -> dict[str, Any]:
        """Select the evidence for ``question`` among the sentences of ``documents``.

        :param question: the user's question.
        :param documents: the retrieved documents.
        :returns: ``evidence`` (sentences as Documents, best first, each with its passage's meta and
            ``evidence_source``), ``found``, ``best_score``, and -- only when found and the best
            evidence is a sentence rather than a list -- ``messages``, the chat for the generator.
        :raises InvalidInputError: for an empty question or non-Document inputs.
        """
        question = _question(question, "EvidenceSelector")
        candidates = sentence_candidates(_passages(documents, "EvidenceSelector"))
        if not candidates:
            return self._output(question, self._select(question, [], None, None))
        provider = self._ready_provider()
        q_vec = provider.embed_text(question).vector
        vectors = provider.embed_documents([c.embed_text for c in candidates]).vectors
        return self._output(question, self._select(question, candidates, q_vec, vectors))

    @component.output_types(messages=list[ChatMessage], evidence=list[Document], found=bool, best_score=float)
    async def run_async(self, question: str, documents: list[Document]) -> dict[str, Any]:
        """Async twin of :meth:`run`."""
        question = _question(question, "EvidenceSelector")
        candidates = sentence_candidates(_passages(documents, "EvidenceSelector"))
        if not candidates:
            return self._output(question, self._select(question, [], None, None))
        provider = self._ready_provider()
        q_vec = (await provider.aembed_text(question)).vector
        vectors = (await provider.aembed_documents([c.embed_text for c in candidates])).vectors
        return self._output(question, self._select(question, candidates, q_vec, vectors))
