"""Grounded answers in Haystack pipelines: pick the evidence sentences of the retrieved documents,
let a generator phrase the answer from them, and keep only what the evidence supports.

``EvidenceSelector`` goes between the retriever and a chat generator, ``AnswerGrounder`` after the
generator. The behaviour is :mod:`hayswitch.answering`'s, shared with ``hayswitch ask``.
"""

from haystack_integrations.components.grounding.hayswitch.answer_grounder import AnswerGrounder
from haystack_integrations.components.grounding.hayswitch.evidence_selector import EvidenceSelector

__all__ = ["AnswerGrounder", "EvidenceSelector"]
