"""Reading-level steering: the shapes of the bundled model's tokens, one row's steered logits, and
answers of the real bundled model (fp32, greedy, no Ray) that read plainer when steered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import torch

from aivo.config import BUNDLED_MODEL, parse_config
from aivo.curriculum.prompting import build_prompt
from aivo.curriculum.readability import (
    flesch_kincaid_grade,
    plain_words_strength,
    reading_steer,
    sentence_words,
    target_band,
    word_difficulty,
)
from aivo.engine.answer_text import AnswerText
from aivo.engine.detokenize import IncrementalDecoder
from aivo.engine.generation import Generation
from aivo.engine.sampling import SamplingParams
from aivo.engine.steering import MAX_NUDGE, Steering, token_shapes
from aivo.errors import InvalidRequest
from aivo.schemas import GenerateRequest
from deployments.inference import InferenceReplica

CPU = torch.device("cpu")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _id(tokenizer: Any, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) == 1, f"{text!r} is {len(ids)} tokens"
    return int(ids[0])


def test_a_words_difficulty_is_zero_for_a_known_word_and_grows_with_syllables() -> None:
    assert word_difficulty("dog") == word_difficulty("Because") == 0.0
    assert word_difficulty("photosynthesis") == 4.0  # pho-to-syn-the-sis: 4 past the first
    assert word_difficulty("gills") == 1.0  # short, but not on the list: still a point


def test_steering_is_strongest_for_the_youngest_and_sentences_grow_with_grade() -> None:
    strengths = [plain_words_strength(g) for g in range(13)]
    lengths = [sentence_words(g) for g in range(13)]
    assert strengths == sorted(strengths, reverse=True) and strengths[0] > strengths[12] > 0
    assert lengths == sorted(lengths) and lengths[0] < lengths[12]
    low, high = target_band(4)
    assert reading_steer(4)["reading_target"] == (low + high) / 2  # the middle of the band


@pytest.mark.parametrize("bad", [{"plain_words": -1.0}, {"sentence_words": -2}])
def test_steering_settings_refuse_negative_values(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        SamplingParams(8, **bad)  # type: ignore[arg-type]


def test_token_shapes_of_the_bundled_vocabulary(bundled_model: Any) -> None:
    tokenizer = bundled_model.tokenizer
    shapes = token_shapes(tokenizer, len(tokenizer) + 64, CPU)  # logits may be wider
    assert shapes.difficulty.shape == (len(tokenizer) + 64,)
    hard, easy = _id(tokenizer, " photosynthesis"), _id(tokenizer, " dog")
    assert shapes.difficulty[hard] == 4.0 and shapes.difficulty[easy] == 0.0
    assert _id(tokenizer, ".") in shapes.ends.tolist()
    assert {_id(tokenizer, ","), _id(tokenizer, " and")} <= set(shapes.joiners.tolist())
    assert shapes.opens_word[easy] and not shapes.opens_word[_id(tokenizer, ",")]
    assert shapes.breaks_sentence[_id(tokenizer, ".")] and not shapes.breaks_sentence[easy]


def test_hard_words_lose_by_difficulty_and_a_long_sentence_leans_to_its_end(
    bundled_model: Any,
) -> None:
    tokenizer = bundled_model.tokenizer
    steering = Steering(SamplingParams(8, plain_words=2.0, sentence_words=3), tokenizer)
    logits = torch.zeros(len(tokenizer))
    hard, easy, stop, comma = (_id(tokenizer, t) for t in (" photosynthesis", " dog", ".", ","))
    first = steering.apply(logits)
    assert first[hard] == -8.0 and first[easy] == 0.0 and first[stop] == 0.0
    assert logits.abs().sum() == 0  # the row's own logits are left as they were
    written = AnswerText(IncrementalDecoder(tokenizer), ())
    for _ in range(5):  # five words: two past the limit
        steering.add(easy, written)
    nudged = steering.apply(logits)
    assert nudged[stop] == 2.0 and nudged[comma] == -2.0
    for _ in range(20):
        steering.add(easy, written)
    assert steering.apply(logits)[stop] == MAX_NUDGE  # favoured, never forced
    steering.add(stop, written)
    assert steering.words == 0 and steering.apply(logits)[stop] == 0.0


@pytest.mark.parametrize(
    ("text", "steered"),
    [
        ("The cat sat on the mat. It was warm.", False),  # reads below the target: left alone
        ("Photosynthesis transforms electromagnetic radiation into chemical energy.", True),
    ],
)
def test_with_a_target_steering_is_on_only_while_the_text_reads_above_it(
    bundled_model: Any, text: str, steered: bool
) -> None:
    tokenizer = bundled_model.tokenizer
    params = SamplingParams(64, plain_words=2.0, sentence_words=3, reading_target=4.0)
    steering, written = Steering(params, tokenizer), AnswerText(IncrementalDecoder(tokenizer), ())
    logits = torch.zeros(len(tokenizer))
    steering.apply(logits)
    for token in tokenizer.encode(text, add_special_tokens=False):
        written.push(token)
        steering.add(token, written)
    assert steering.on is steered
    hard = _id(tokenizer, " photosynthesis")
    assert steering.apply(logits)[hard] == (-8.0 if steered else 0.0)


QUESTIONS = (
    "Why do cats purr?",
    "How do birds build their nests?",
    "What makes thunder so loud?",
    "Why do we need to brush our teeth?",
)


@pytest.mark.anyio
async def test_steered_answers_read_plainer_on_the_bundled_model(tmp_path: Path) -> None:
    config = parse_config(
        {
            "engine": {
                "models": [{"name": BUNDLED_MODEL, "dtype": "float32"}],
                "request_timeout_s": 300,  # a shared 2-core machine
            },
            "storage": {"adapter_root": str(tmp_path / "adapters")},
        }
    )
    replica = InferenceReplica(config)
    grade = 2
    steer = reading_steer(grade)

    async def answer(question: str, steered: bool) -> str:
        request = GenerateRequest(prompt=question, grade_level=str(grade), subject="science")
        messages = build_prompt(request, question, []).messages
        params = SamplingParams(96, **steer) if steered else SamplingParams(96)
        generation = await replica.generate(messages, params)
        assert isinstance(generation, Generation)
        return generation.completion.text

    try:
        texts = await asyncio.gather(
            *(answer(q, steered) for steered in (False, True) for q in QUESTIONS)
        )
    finally:
        replica.close()
    plain, steered = texts[: len(QUESTIONS)], texts[len(QUESTIONS) :]
    levels = [
        sum(flesch_kincaid_grade(t) for t in side) / len(QUESTIONS) for side in (plain, steered)
    ]
    assert levels[1] < levels[0] - 1.0, (levels, steered)
    assert all(len(t.split()) >= 20 for t in steered)  # still answers, not fragments
