"""The vetted key ideas: the shipped library is well formed and written at its bands' reading
levels, labelled questions find their idea (and questions off its topics none), and each
tutoring move is grounded its own way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from aivo.curriculum.evaluation import key_idea_score, load_labelled
from aivo.curriculum.key_ideas import (
    BANDS,
    KEY_IDEAS_FILE,
    KeyIdea,
    KeyIdeaError,
    KeyIdeaLibrary,
    load_key_ideas,
)
from aivo.curriculum.prompting import FACTS_LABEL, HINT_LABEL
from aivo.curriculum.readability import GRADE_BANDS, flesch_kincaid_grade, target_band
from aivo.curriculum.sentences import split_sentences
from aivo.embedding import SentenceEmbedder
from aivo.schemas import Subject, TutoringMode

LABELLED = Path(__file__).parents[2] / "bench" / "data" / "key_ideas_labelled.jsonl"
IDEAS = load_key_ideas()


@pytest.fixture(scope="module")
def embedder() -> Iterator[SentenceEmbedder]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the preprocessor replica
    try:
        yield SentenceEmbedder()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def library(embedder: SentenceEmbedder) -> KeyIdeaLibrary:
    return KeyIdeaLibrary(IDEAS, embedder)


def test_the_library_covers_every_subject_with_distinct_ideas() -> None:
    assert len(IDEAS) >= 120
    assert {idea.subject for idea in IDEAS} == set(Subject)
    phrasings = [q.lower() for idea in IDEAS for q in idea.questions]
    assert len(phrasings) == len(set(phrasings))


@pytest.mark.parametrize("band", GRADE_BANDS, ids=lambda b: b.name)
def test_each_bands_text_keeps_to_its_sentence_length(band: object) -> None:
    too_long = [
        (idea.id, sentence)
        for idea in IDEAS
        for sentence in split_sentences(idea.texts[band.name])  # type: ignore[attr-defined]
        if len(sentence.split()) > band.max_sentence_words + 2  # type: ignore[attr-defined]
    ]
    assert not too_long


@pytest.mark.parametrize("grade", range(13))
def test_every_grade_gets_a_text_in_its_reading_band(grade: int) -> None:
    """Grade 9 sits between the 6-8 texts (FK 6-7) and the 9-12 ones (FK 10-11, in the band of
    grades 10-12): the nearer of the two is within a grade of its band."""
    low, high = target_band(grade)
    slack = 1.0 if grade == 9 else 0.0
    off = [
        idea.id
        for idea in IDEAS
        if not low - slack <= max(flesch_kincaid_grade(idea.text_for(grade)), 0.0) <= high + slack
    ]
    assert not off


def test_hints_read_at_grade_3_or_below() -> None:
    """One hint serves every grade: the youngest learners must be able to read it."""
    assert not [i.id for i in IDEAS if flesch_kincaid_grade(i.hint) > 3.0]


def test_a_text_is_chosen_by_its_measured_level_nearest_the_learners_band() -> None:
    texts = {band: f"text {band}" for band in BANDS}
    idea = KeyIdea(
        "x",
        Subject.science,
        "x",
        ("x",),
        texts,
        "h",
        dict(zip(BANDS, (1, 5.5, 9, 11), strict=True)),
    )
    assert idea.text_for(0) == "text K-2"
    assert idea.text_for(4) == "text 3-5"
    assert idea.text_for(7) == "text 3-5"  # 6-8's reads above grade 7's band, 3-5's within
    assert idea.text_for(12) == "text 9-12"


def test_a_malformed_line_or_a_repeated_id_is_refused_with_its_line(tmp_path: Path) -> None:
    row = json.loads(KEY_IDEAS_FILE.read_text().splitlines()[0])
    path = tmp_path / "ideas.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(KeyIdeaError, match=r"line 2: .* twice"):
        load_key_ideas(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(KeyIdeaError, match="line 1: a line must be a JSON object"):
        load_key_ideas(path)
    del row["3-5"]
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(KeyIdeaError, match="line 1: missing 3-5"):
        load_key_ideas(path)


@pytest.mark.parametrize(("split", "least_found"), [("dev", 0.55), ("holdout", 0.7)])
def test_labelled_questions_find_their_idea_and_questions_off_its_topics_none(
    library: KeyIdeaLibrary, embedder: SentenceEmbedder, split: str, least_found: float
) -> None:
    """Questions written apart from the library (dev: where the bounds were set; holdout: not
    looked at then): at most 3 % are given a wrong idea (a wrong topic's text is worse than
    none), and most on-topic ones find theirs (measured 62 % dev, 80 % holdout)."""
    score = key_idea_score(library, embedder, load_labelled(LABELLED, split))
    assert score.on_topic >= 100 and score.off_topic >= 45
    assert score.wrong <= 0.03 and score.found >= least_found, score


def test_a_question_grounds_each_move_its_own_way(
    library: KeyIdeaLibrary, embedder: SentenceEmbedder
) -> None:
    question = "why does the moon change shape every night"
    vector = embedder.encode([question])[0]
    explain = library.ground(TutoringMode.explain, question, vector, Subject.science, 3)
    assert explain is not None and explain.idea == "science.phases-of-the-moon"
    idea = next(i for i in IDEAS if i.id == explain.idea)
    facts = (f"{FACTS_LABEL} {idea.text_for(3)}",)  # for a student's adapter, which writes
    assert explain.answer == idea.text_for(3) and explain.material == facts
    hint = library.ground(TutoringMode.hint, question, vector, Subject.science, 3)
    assert hint is not None and hint.answer == idea.hint
    assert hint.material == (f"{HINT_LABEL} {idea.hint}",)
    check = library.ground(TutoringMode.check, question, vector, Subject.science, 3)
    assert check is not None and not check.answer and check.material == facts
    # asked again after the tutor explained it: the model says it another way, from the facts
    again = library.ground(
        TutoringMode.explain, question, vector, Subject.science, 3, [f"1. {idea.text_for(3)}"]
    )
    assert again is not None and not again.answer and again.material == facts
    assert library.ground(TutoringMode.explain, question, vector, Subject.ela, 3) is None
    story = "Write a short story about the moon changing shape"
    vector = embedder.encode([story])[0]
    assert library.match(story, vector, Subject.science) is not None
    assert library.ground(TutoringMode.explain, story, vector, Subject.science, 3) is None
