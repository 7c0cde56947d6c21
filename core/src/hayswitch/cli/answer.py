"""The answer-generation half of ``hayswitch ask``: from a question and the retrieved passages to a
short answer grounded in cited sentences (or an honest "not found").

It runs the reusable components as a Haystack pipeline::

    EvidenceSelector -> ProviderChatGenerator -> AnswerGrounder

(:mod:`haystack_integrations.components.grounding.hayswitch`; the logic is in
:mod:`hayswitch.answering`). Retrieval is not done here: the caller passes the retrieved Documents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroundedResult", "build_answer_pipeline", "close_answer_pipeline", "grounded_answer"]


@dataclass
class GroundedResult:
    """What :func:`grounded_answer` produced.

    :param answer: the text to show (the model's checked reply, the evidence sentence, or the
        not-found message).
    :param status: ``generated``, ``extracted`` or ``not_found``.
    :param evidence: the cited sentences, best first: ``text``, ``source``, ``file``, ``passage``,
        ``score``.
    :param reply: the model's own reply (also when it was rejected); "" when the model did not run.
    :param reason: why the reply was rejected ("" if it was not).
    :param model, provider, finish_reason, usage: the generator's reply meta (None / empty when the
        generator did not run).
    """

    answer: str
    status: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    reply: str = ""
    reason: str = ""
    score: float = 0.0
    model: str | None = None
    provider: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


def build_answer_pipeline(
    *,
    provider: str | None = None,
    profile: str | None = None,
    max_tokens: int | None = None,
    policy: Mapping[str, Any] | None = None,
    generate: bool = True,
) -> Any:
    """The answer pipeline: ``evidence`` (EvidenceSelector) -> ``llm`` (ProviderChatGenerator) ->
    ``grounder`` (AnswerGrounder), all bound to ``provider`` / ``profile``.

    Inputs: ``evidence.question``, ``evidence.documents``, ``grounder.question``; output:
    ``grounder.answers``. When the evidence is not good enough, ``llm`` does not run.

    :param generate: False leaves the generator out: the answer is the evidence sentence
        (extractive answers, no chat model needed).
    """
    from haystack import Pipeline

    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator
    from haystack_integrations.components.grounding.hayswitch import AnswerGrounder, EvidenceSelector
    from hayswitch.answering import GroundingPolicy

    rules = GroundingPolicy.from_value(policy)
    generation_kwargs = {"max_tokens": max_tokens or rules.max_tokens, "temperature": 0.0, "stop": ["\n\n"]}
    pipeline = Pipeline()
    pipeline.add_component("evidence", EvidenceSelector(provider=provider, profile=profile, policy=policy))
    pipeline.add_component("grounder", AnswerGrounder(policy=policy))
    pipeline.connect("evidence.evidence", "grounder.evidence")
    pipeline.connect("evidence.best_score", "grounder.best_score")
    if generate:
        pipeline.add_component(
            "llm", ProviderChatGenerator(provider=provider, profile=profile, generation_kwargs=generation_kwargs)
        )
        pipeline.connect("evidence.messages", "llm.messages")
        pipeline.connect("llm.replies", "grounder.replies")
    return pipeline


def close_answer_pipeline(pipeline: Any) -> None:
    """Release the providers of a pipeline from :func:`build_answer_pipeline` (idempotent)."""
    for name in ("evidence", "llm"):
        if name in pipeline.graph.nodes:
            pipeline.get_component(name).close()


def grounded_answer(
    question: str,
    documents: Sequence[Any],
    *,
    provider: str | None = None,
    profile: str | None = None,
    max_tokens: int | None = None,
    policy: Mapping[str, Any] | None = None,
    on_token: Callable[[str], None] | None = None,
    pipeline: Any = None,
) -> GroundedResult:
    """Answer ``question`` from the retrieved ``documents`` (Haystack Documents, best first).

    :param on_token: called once with the checked answer text (the reply is checked against the
        evidence before anything is shown, so unsupported text is never printed).
    :param pipeline: a pipeline from :func:`build_answer_pipeline` to reuse (e.g. across questions of a
        benchmark); None builds one and closes it afterwards.
    """
    own = pipeline is None
    pipe = (
        pipeline
        if pipeline is not None
        else build_answer_pipeline(provider=provider, profile=profile, max_tokens=max_tokens, policy=policy)
    )
    generating = "llm" in pipe.graph.nodes
    try:
        result = pipe.run(
            {"evidence": {"question": question, "documents": list(documents)}, "grounder": {"question": question}},
            include_outputs_from={"llm"} if generating else set(),
        )
    finally:
        if own:
            close_answer_pipeline(pipe)
    answer = result["grounder"]["answers"][0]
    replies = (result.get("llm") or {}).get("replies") or []
    meta = replies[0].meta if replies else {}
    if on_token is not None:
        on_token(answer.data)
    return GroundedResult(
        answer=answer.data,
        status=answer.meta["status"],
        evidence=[
            {
                "text": doc.content,
                "source": doc.meta.get("evidence_source"),
                "file": doc.meta.get("file_path"),
                "passage": doc.meta.get("passage"),
                "score": round(float(doc.score or 0.0), 4),
            }
            for doc in answer.documents
        ],
        reply=answer.meta.get("reply", ""),
        reason=answer.meta.get("reason", ""),
        score=float(answer.meta.get("score") or 0.0),
        model=meta.get("model"),
        provider=meta.get("provider"),
        finish_reason=meta.get("finish_reason"),
        usage=dict(meta.get("usage") or {}),
    )
