"""EvidenceSelector and AnswerGrounder on the fake provider: outputs, pipelines, serialisation."""

from __future__ import annotations

import textwrap

import pytest
from haystack import Document, Pipeline
from haystack.dataclasses import ChatMessage, GeneratedAnswer

from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator
from haystack_integrations.components.grounding.hayswitch import AnswerGrounder, EvidenceSelector
from hayswitch import InvalidInputError
from hayswitch.answering import NOT_FOUND

DOCS = [
    Document(
        content="Bicycles are carried free of charge. Cars are not taken on board at all.",
        meta={"file_path": "ferry.md", "passage": 2, "heading": "The Veloria ferry > Tickets"},
        score=0.7,
    ),
    Document(
        content="The ferry leaves Port Amsel every morning at 07:40. A single adult ticket costs 14 tallers.",
        meta={"file_path": "ferry.md", "passage": 1, "heading": "The Veloria ferry"},
        score=0.8,
    ),
]


def test_selector_outputs_evidence_and_messages() -> None:
    selector = EvidenceSelector(provider="fake")
    result = selector.run(question="How much does a single adult ticket cost?", documents=DOCS)
    assert result["found"] is True
    best = result["evidence"][0]
    assert best.content == "A single adult ticket costs 14 tallers."
    assert best.meta["evidence_source"] == "ferry.md, passage 1"
    assert best.meta["file_path"] == "ferry.md"
    assert best.score == pytest.approx(result["best_score"])
    messages = result["messages"]
    assert [m.role.value for m in messages] == ["system", "user"]
    assert "14 tallers" in (messages[1].text or "")
    selector.close()


def test_selector_emits_no_messages_when_not_found() -> None:
    result = EvidenceSelector(provider="fake").run(question="Who painted the Mona Lisa?", documents=DOCS)
    assert result["found"] is False
    assert result["evidence"] == []
    assert "messages" not in result
    empty = EvidenceSelector(provider="fake").run(question="Anything?", documents=[])
    assert empty["found"] is False
    assert empty["best_score"] == 0.0


async def test_selector_run_async_matches_run() -> None:
    selector = EvidenceSelector(provider="fake")
    question = "When does the ferry leave Port Amsel?"
    sync = selector.run(question=question, documents=DOCS)
    result = await selector.run_async(question=question, documents=DOCS)
    assert [d.content for d in result["evidence"]] == [d.content for d in sync["evidence"]]
    assert result["best_score"] == pytest.approx(sync["best_score"])
    await selector.close_async()


def test_selector_input_errors() -> None:
    selector = EvidenceSelector(provider="fake")
    with pytest.raises(InvalidInputError, match="question"):
        selector.run(question=" ", documents=DOCS)
    with pytest.raises(InvalidInputError, match="not a Haystack Document"):
        selector.run(question="q?", documents=["text"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="Unknown grounding policy field"):
        EvidenceSelector(provider="fake", policy={"threshold": 0.3})
    with pytest.raises(InvalidInputError, match="AnswerGrounder: max_unsupported must be between 0 and 1"):
        AnswerGrounder(policy={"max_unsupported": 2})


def test_grounder_keeps_supported_replies_and_replaces_drift() -> None:
    evidence = EvidenceSelector(provider="fake").run(question="When does the ferry leave?", documents=DOCS)["evidence"]
    grounder = AnswerGrounder()
    kept = grounder.run(
        question="When does the ferry leave?",
        evidence=evidence,
        replies=[ChatMessage.from_assistant("The ferry leaves at 07:40.")],
    )["answers"][0]
    assert isinstance(kept, GeneratedAnswer)
    assert kept.data == "The ferry leaves at 07:40."
    assert kept.meta["status"] == "generated"
    assert kept.documents[0].meta["evidence_source"] == "ferry.md, passage 1"

    drift = grounder.run(
        question="When does the ferry leave?", evidence=evidence, replies=["It leaves at 09:30 from Dover."]
    )["answers"][0]
    assert drift.meta["status"] == "extracted"
    assert "07:40" in drift.data
    assert drift.meta["reply"] == "It leaves at 09:30 from Dover."
    assert "numbers" in drift.meta["reason"]

    none = grounder.run(question="When does the ferry leave?", evidence=[])["answers"][0]
    assert none.data == NOT_FOUND
    assert none.meta["status"] == "not_found"
    assert none.documents == []


async def test_grounder_run_async() -> None:
    result = await AnswerGrounder().run_async(question="q?", evidence=[], replies=None)
    assert result["answers"][0].data == NOT_FOUND


def _pipeline() -> Pipeline:
    pipe = Pipeline()
    pipe.add_component("evidence", EvidenceSelector(provider="fake", policy={"max_evidence": 1}))
    pipe.add_component("llm", ProviderChatGenerator(provider="fake"))
    pipe.add_component("grounder", AnswerGrounder(policy={"max_unsupported": 0.2}))
    pipe.connect("evidence.messages", "llm.messages")
    pipe.connect("evidence.evidence", "grounder.evidence")
    pipe.connect("evidence.best_score", "grounder.best_score")
    pipe.connect("llm.replies", "grounder.replies")
    return pipe


def _ask(pipe: Pipeline, question: str) -> dict:
    return pipe.run(
        {"evidence": {"question": question, "documents": DOCS}, "grounder": {"question": question}},
        include_outputs_from={"llm"},
    )


def test_pipeline_answers_and_skips_the_generator_when_not_found() -> None:
    pipe = _pipeline()
    found = _ask(pipe, "When does the ferry leave Port Amsel?")
    assert "llm" in found  # the generator ran
    answer = found["grounder"]["answers"][0]
    assert "07:40" in answer.data
    assert answer.meta["status"] == "extracted"  # the fake provider's echo is not an answer
    missing = _ask(pipe, "Who painted the Mona Lisa?")
    assert "llm" not in missing  # nothing to phrase: the generator did not run
    assert missing["grounder"]["answers"][0].data == NOT_FOUND


def test_components_round_trip_through_yaml() -> None:
    pipe = _pipeline()
    loaded = Pipeline.loads(pipe.dumps())
    selector = loaded.get_component("evidence")
    assert isinstance(selector, EvidenceSelector)
    assert selector.provider == "fake"
    assert selector.policy == {"max_evidence": 1}
    grounder = loaded.get_component("grounder")
    assert isinstance(grounder, AnswerGrounder)
    assert grounder.policy == {"max_unsupported": 0.2}
    assert (
        EvidenceSelector.from_dict(EvidenceSelector(provider="fake").to_dict()).to_dict()
        == EvidenceSelector(provider="fake").to_dict()
    )
    assert (
        _ask(loaded, "When does the ferry leave Port Amsel?")["grounder"]["answers"][0].data
        == _ask(pipe, "When does the ferry leave Port Amsel?")["grounder"]["answers"][0].data
    )


def test_grounder_reads_the_finish_reason_of_chat_replies() -> None:
    evidence = EvidenceSelector(provider="fake").run(question="When does the ferry leave?", documents=DOCS)["evidence"]
    cut = ChatMessage.from_assistant("The ferry leaves at 07:40 and", meta={"finish_reason": "length"})
    answer = AnswerGrounder().run(question="When does the ferry leave?", evidence=evidence, replies=[cut])["answers"][0]
    assert answer.meta["status"] == "extracted"
    assert "token budget" in answer.meta["reason"]


def test_list_evidence_skips_the_generator() -> None:
    docs = [Document(content="The steps are: 1. Write a class. 2. Add a run method. 3. Connect it.")]
    result = EvidenceSelector(provider="fake").run(question="What are the steps?", documents=docs)
    assert result["found"] is True
    assert result["evidence"][0].meta["evidence_is_list"] is True
    assert "messages" not in result
    answer = AnswerGrounder().run(question="What are the steps?", evidence=result["evidence"])["answers"][0]
    assert answer.data == "The steps are: 1. Write a class. 2. Add a run method. 3. Connect it."
    assert answer.meta["status"] == "extracted"


@pytest.mark.parametrize("cls", [EvidenceSelector, AnswerGrounder])
def test_docstring_usage_examples_run(cls: type, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    (code,) = re.findall(r"```python\n(.*?)```", cls.__doc__ or "", re.DOTALL)
    exec(compile(textwrap.dedent(code), f"<{cls.__name__} docstring>", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_module_docstring_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import hayswitch.answering

    doc = hayswitch.answering.__doc__ or ""
    code = doc.split("deterministic, no model)::\n", 1)[1].split("\n\nThis module")[0]
    exec(compile(textwrap.dedent(code), "<hayswitch.answering docstring>", "exec"), {})
    assert "ferry.md" in capsys.readouterr().out
