"""hayswitch.answering: sentence splitting, evidence scoring, the drift check (no Haystack, no model)."""

from __future__ import annotations

import pytest

from hayswitch import get_provider
from hayswitch.answering import (
    NOT_FOUND,
    Candidate,
    Evidence,
    EvidenceSelection,
    GroundingPolicy,
    Passage,
    answer,
    answer_messages,
    content_terms,
    ground_reply,
    select_evidence,
    sentence_candidates,
    split_sentences,
)

FERRY = (
    "The ferry leaves Port Amsel every morning at 07:40 and the crossing takes about 95 minutes. "
    "A single adult ticket costs 14 tallers. Harbourmaster Ines Drovak started the service in 1962."
)


def test_split_sentences_handles_abbreviations_lists_and_numbers() -> None:
    text = (
        "The officer is Dr. Keiko Althaus. Report injuries to her. * Badges expire every 90 days. "
        "* Book the printer e.g. a day ahead. 1. Install it. 2. Run it now please. The peak is 2,130 m high."
    )
    assert split_sentences(text) == [
        "The officer is Dr. Keiko Althaus.",
        "Report injuries to her.",
        "Badges expire every 90 days.",
        "Book the printer e.g. a day ahead.",
        "Install it.",
        "Run it now please.",
        "The peak is 2,130 m high.",
    ]


def test_split_sentences_cuts_very_long_units() -> None:
    text = ", ".join(f"item number {i}" for i in range(100))
    pieces = split_sentences(text)
    assert len(pieces) > 1
    assert all(len(p) <= 400 for p in pieces)
    assert " ".join(pieces).replace(" ,", ",").count("item number") == 100


def test_content_terms_normalises_numbers_plurals_and_drops_stop_words() -> None:
    terms = content_terms("How many notes does the free plan allow? It is 2,130 m; copper-wing moths.")
    assert "note" in terms
    assert "plan" in terms
    assert "2130" in terms
    assert "copper-wing" in terms
    assert "copper" in terms
    assert "moth" in terms
    assert not {"how", "many", "does", "the", "is", "it"} & set(terms)


def test_policy_validation_and_from_value() -> None:
    assert GroundingPolicy.from_value(None) == GroundingPolicy()
    assert GroundingPolicy.from_value({"min_score": 0.5}).min_score == 0.5
    with pytest.raises(ValueError, match="Unknown grounding policy field"):
        GroundingPolicy.from_value({"min_scor": 0.5})
    with pytest.raises(ValueError, match="min_score"):
        GroundingPolicy(min_score=1.5)
    with pytest.raises(ValueError, match="max_evidence"):
        GroundingPolicy(max_evidence=0)
    assert GroundingPolicy.from_value(GroundingPolicy().to_dict()) == GroundingPolicy()


def _selection(question: str, passages: list[Passage], **policy: float) -> EvidenceSelection:
    provider = get_provider("fake")
    candidates = sentence_candidates(passages)
    return select_evidence(
        question,
        candidates,
        provider.embed_text(question).vector,
        provider.embed_documents([c.embed_text for c in candidates]).vectors,
        GroundingPolicy.from_value(policy),
    )


def test_the_sentence_holding_the_answer_is_selected_with_its_source() -> None:
    passages = [
        Passage("Bicycles are carried free. Cars are not taken on board.", 0.8, {"file_path": "a.md", "passage": 2}),
        Passage(FERRY, 0.7, {"file_path": "ferry.md", "passage": 1, "heading": "The Veloria ferry"}),
    ]
    selection = _selection("How much does a single adult ticket cost?", passages)
    assert selection.found
    best = selection.evidence[0]
    assert best.text == "A single adult ticket costs 14 tallers."
    assert best.source == "ferry.md, passage 1"
    assert best.passage_index == 1
    assert selection.ranked[0] == best
    assert len(selection.ranked) == 5
    assert [e.score for e in selection.ranked] == sorted((e.score for e in selection.ranked), reverse=True)


def test_unrelated_question_is_not_found() -> None:
    selection = _selection("Who painted the Mona Lisa?", [Passage(FERRY, meta={"file_path": "ferry.md"})])
    assert not selection.found
    assert selection.evidence == []
    grounded = ground_reply(selection.question, "Leonardo da Vinci painted it.", selection)
    assert grounded.text == NOT_FOUND
    assert grounded.status == "not_found"
    assert not grounded.found


def test_min_score_decides_found() -> None:
    passages = [Passage(FERRY, meta={"file_path": "ferry.md"})]
    question = "When does the ferry leave Port Amsel?"
    assert _selection(question, passages, min_score=0.0).found
    assert not _selection(question, passages, min_score=1.0).found


def test_vectors_must_match_candidates() -> None:
    candidates = sentence_candidates([Passage(FERRY)])
    with pytest.raises(ValueError, match="vectors"):
        select_evidence("q?", candidates, [1.0, 0.0], [[1.0, 0.0]])


def test_lexical_only_without_vectors() -> None:
    candidates = sentence_candidates([Passage(FERRY)])
    selection = select_evidence("Who started the service?", candidates, None, None, GroundingPolicy(min_score=0.3))
    assert selection.evidence[0].text.startswith("Harbourmaster Ines Drovak")
    assert selection.evidence[0].semantic == 0.0


def _found(text: str, question: str) -> EvidenceSelection:
    evidence = Evidence(text, 0.9, 0.9, 0.9, 0, 0, {"file_path": "ferry.md", "passage": 1})
    return EvidenceSelection(question, True, [evidence], [evidence], 0.9)


@pytest.mark.parametrize(
    ("reply", "status", "reason"),
    [
        ("The ferry leaves at 07:40.", "generated", ""),
        ("It leaves at 08:15 every day.", "extracted", "numbers not in the evidence"),
        ("The ferry leaves from the harbour near the lighthouse with the captain and sailors.", "extracted", "words"),
        ("When does the ferry leave?", "extracted", "adds nothing"),
        ("", "extracted", "no reply"),
        (" ".join(["ferry"] * 80), "extracted", "longer than"),
    ],
)
def test_drift_check(reply: str, status: str, reason: str) -> None:
    question = "When does the ferry leave?"
    selection = _found("The ferry leaves Port Amsel every morning at 07:40.", question)
    grounded = ground_reply(question, reply, selection)
    assert grounded.status == status
    assert reason in grounded.reason
    if status == "extracted":
        assert grounded.text == "The ferry leaves Port Amsel every morning at 07:40."
        assert grounded.reply == reply.strip()
    else:
        assert grounded.text == reply
    assert grounded.evidence[0].source == "ferry.md, passage 1"
    assert grounded.to_dict()["evidence"][0]["file"] == "ferry.md"


def test_extracted_answer_keeps_document_order_of_cited_sentences() -> None:
    first = Evidence("Second sentence here.", 0.9, 0.9, 0.9, 0, 1, {})
    second = Evidence("First sentence here.", 0.88, 0.9, 0.9, 0, 0, {})
    selection = EvidenceSelection("q?", True, [first, second], [first, second], 0.9)
    assert ground_reply("q?", None, selection).text == "First sentence here. Second sentence here."


def test_prompt_restates_the_question_after_the_evidence() -> None:
    selection = _found("The ferry leaves Port Amsel every morning at 07:40.", "When?")
    messages = answer_messages("When does the ferry leave?", selection.evidence)
    assert [m.role for m in messages] == ["system", "user"]
    user = messages[1].content
    assert user.index("07:40") < user.index("Question: When does the ferry leave?")
    assert user.rstrip().endswith("Answer the question in one short sentence.")


def test_answer_end_to_end_with_the_fake_provider() -> None:
    provider = get_provider("fake")
    passages = [Passage(FERRY, meta={"file_path": "ferry.md", "passage": 1})]
    replies: list[str] = []
    result = answer("When does the ferry leave Port Amsel?", passages, provider, on_reply=replies.append)
    # The fake provider echoes the prompt: that is drift, so the evidence sentence is the answer.
    assert replies
    assert replies[0].startswith("Echo:")
    assert result.status == "extracted"
    assert "07:40" in result.text
    assert result.evidence[0].source == "ferry.md, passage 1"
    assert answer("Who painted the Mona Lisa?", passages, provider).text == NOT_FOUND
    assert answer("anything?", [], provider).status == "not_found"
    skipped = answer("When does the ferry leave Port Amsel?", passages, provider, generate=False)
    assert skipped.status == "extracted"
    assert skipped.reason == "generation disabled"


def test_candidates_carry_heading_into_what_is_embedded() -> None:
    (candidate,) = sentence_candidates([Passage("It opened in 1978.", meta={"heading": "Tarnholt Observatory"})])
    assert isinstance(candidate, Candidate)
    assert candidate.text == "It opened in 1978."
    assert candidate.embed_text == "Tarnholt Observatory: It opened in 1978."


def test_a_reply_cut_at_the_token_budget_is_not_kept() -> None:
    question = "When does the ferry leave?"
    selection = _found("The ferry leaves Port Amsel every morning at 07:40.", question)
    cut = ground_reply(question, "The ferry leaves at 07:40 and", selection, finish_reason="length")
    assert cut.status == "extracted"
    assert cut.reason == "the reply was cut at the token budget"
    assert ground_reply(question, "The ferry leaves at 07:40.", selection, finish_reason="stop").status == "generated"


def test_a_list_is_evidence_shown_as_written_and_not_rephrased() -> None:
    text = (
        "# Custom components\n\nThe steps for creating a custom component are:\n\n"
        "1. Write a class and decorate it with `@component`.\n2. Implement a `run` method.\n"
        "3. Connect it in a pipeline.\n\nComponents are plain Python classes."
    )
    provider = get_provider("fake")
    result = answer("What are the steps for creating a custom component?", [Passage(text)], provider)
    assert result.status == "extracted"
    assert result.reason == "the evidence is a list: it is shown as written"
    assert result.reply == ""  # the generator was not asked
    assert result.evidence[0].is_list
    assert result.text == (
        "The steps for creating a custom component are: 1. Write a class and decorate it with @component. "
        "2. Implement a run method. 3. Connect it in a pipeline."
    )


def test_identifiers_must_be_copied_exactly() -> None:
    question = "Which hooks does a provider implement?"
    selection = _found("Subclass Provider and implement the hooks _embed and _generate.", question)
    assert ground_reply(question, "It implements _embed and _generate.", selection).status == "generated"
    wrong = ground_reply(question, "It implements _embed and hooks_generate.", selection)
    assert wrong.status == "extracted"
    assert "identifiers" in wrong.reason
