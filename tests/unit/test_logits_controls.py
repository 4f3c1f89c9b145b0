"""The sampling controls on small tensors, token lists and the real tokenizer: exact values."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from aivo.config import EngineConfig
from aivo.engine.answer_text import AnswerText, LoopDetector, partial_stop, stop_at
from aivo.engine.detokenize import IncrementalDecoder
from aivo.engine.draws import pick_token
from aivo.engine.penalties import TokenHistory, penalised
from aivo.engine.sampling import SamplingParams, request_params
from aivo.errors import InvalidRequest
from aivo.schemas import GenerateRequest

LOGITS = torch.tensor([2.0, -1.0, 0.5, 3.0, -2.0, 1.0])


def history(tokens: list[int], ngram_size: int = 0) -> TokenHistory:
    made = TokenHistory(ngram_size)
    for token in tokens:
        made.add(token)
    return made


@pytest.mark.parametrize(
    ("controls", "expected"),
    [
        ({}, [2.0, -1.0, 0.5, 3.0, -2.0, 1.0]),
        ({"repetition_penalty": 2.0}, [1.0, -2.0, 0.5, 3.0, -4.0, 1.0]),
        ({"frequency_penalty": 0.5}, [1.0, -1.5, 0.5, 3.0, -2.5, 1.0]),
        ({"presence_penalty": 0.25}, [1.75, -1.25, 0.5, 3.0, -2.25, 1.0]),
        (
            {"repetition_penalty": 2.0, "frequency_penalty": 0.5, "presence_penalty": -0.5},
            [0.5, -2.0, 0.5, 3.0, -4.0, 1.0],
        ),
    ],
)
def test_penalties_touch_only_generated_tokens(
    controls: dict[str, float], expected: list[float]
) -> None:
    params = SamplingParams(8, **controls)  # type: ignore[arg-type]
    out = penalised(LOGITS, params, history([0, 1, 0, 4]))  # token 0 twice, 1 and 4 once
    assert out.tolist() == expected
    assert LOGITS.tolist() == [2.0, -1.0, 0.5, 3.0, -2.0, 1.0]  # the model's logits untouched


@pytest.mark.parametrize(
    ("tokens", "size", "banned"),
    [
        ([3, 1, 3], 2, [1]),  # "3 1" was generated: after 3, 1 is banned
        ([3, 1, 3, 5, 3], 2, [1, 5]),
        ([3, 1, 3, 1], 3, [3]),  # "3 1 3"
        ([3, 1, 2, 1], 3, []),  # "2 1" was never followed
        ([3, 1], 1, [1, 3]),  # unigrams: every generated token
        ([3, 1, 3], 0, []),  # off
        ([3], 3, []),  # too short to hold an n-gram
    ],
)
def test_no_repeat_ngram_bans_what_would_repeat(
    tokens: list[int], size: int, banned: list[int]
) -> None:
    made = history(tokens, size)
    assert made.banned() == banned
    out = penalised(LOGITS, SamplingParams(8, no_repeat_ngram_size=size), made)
    assert [i for i, v in enumerate(out.tolist()) if v == float("-inf")] == banned


def test_top_p_keeps_the_nucleus_and_greedy_ignores_it() -> None:
    logits = torch.tensor([0.5, 0.3, 0.2]).log()
    generator = torch.Generator().manual_seed(0)

    def draws(top_p: float) -> set[int]:
        params = SamplingParams(8, temperature=1.0, top_p=top_p)
        return {pick_token(logits, params, generator) for _ in range(200)}

    assert draws(1.0) == {0, 1, 2}
    assert draws(0.6) == {0, 1}  # 0.5 < 0.6: the second token completes the nucleus
    assert draws(0.5) == {0}
    assert pick_token(torch.tensor([0.1, 0.9, 0.3]), SamplingParams(8, top_p=0.1), None) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"max_tokens": 0},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"stop": ("a",) * 5},
        {"stop": ("",)},
        {"stop": ("x" * 65,)},
        {"frequency_penalty": 2.5},
        {"presence_penalty": -3.0},
        {"repetition_penalty": 0.9},
        {"no_repeat_ngram_size": -1},
    ],
)
def test_sampling_params_refuse_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        SamplingParams(**{"max_tokens": 8, **bad})  # type: ignore[arg-type]


def test_stop_strings_are_found_and_their_prefixes_held() -> None:
    assert stop_at("Hello world. Bye", ("Bye", "wor"), 0) == 6
    assert stop_at("Hello world. Bye", ("Bye", "wor"), 7) == 13
    assert stop_at("Hello", ("Bye",), 0) is None
    assert partial_stop("Hello wo", ("world",)) == 2
    assert partial_stop("abc", ("cd", "bcx")) == 2
    assert partial_stop("abc", ("xyz",)) == 0


def test_loop_detector_fires_on_the_third_copy() -> None:
    detector = LoopDetector()
    unit = list(range(10, 20))
    fired = [detector.add(t) for t in [1, 2, *unit, *unit, *unit]]
    assert fired[:-1] == [None] * 31
    assert fired[-1] == (2, 10)  # the repeat starts at token 2 and is 10 tokens long


def test_short_units_need_24_tokens_and_two_copies_are_no_loop() -> None:
    short = LoopDetector()
    fired = [short.add(t) for t in [5, 6] * 13]
    assert fired.index((0, 2)) == 23  # 24 tokens of "5 6"
    twice = LoopDetector()
    assert all(twice.add(t) is None for t in [*range(30), *range(30)])
    assert twice.repeating == 30  # held back until it cannot become a loop


def streamed(
    tokenizer: Any, text: str, stops: tuple[str, ...] = ()
) -> tuple[list[str], AnswerText]:
    """`text` through an AnswerText token by token, as a row streams it; stops where it ends."""
    answer = AnswerText(IncrementalDecoder(tokenizer), stops)
    chunks = []
    for token in tokenizer.encode(text, add_special_tokens=False):
        chunks.append(answer.push(token))
        if answer.ended:
            break
    chunks.append(answer.finish())
    return [c for c in chunks if c], answer


@pytest.mark.parametrize(
    ("stops", "expected"),
    [
        (("is 56",), "The answer "),
        (("56", "answer"), "The "),
        (("is 57",), "The answer is 56. Well done."),  # a prefix held back, then let go
        (("done.",), "The answer is 56. Well "),
    ],
)
def test_stop_strings_are_never_streamed(
    bundled_model: Any, stops: tuple[str, ...], expected: str
) -> None:
    chunks, answer = streamed(bundled_model.tokenizer, "The answer is 56. Well done.", stops)
    assert answer.text == expected == "".join(chunks)
    assert answer.ended is (expected != "The answer is 56. Well done.")
    assert not answer.loop_stopped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The sum of 7 and 8 is 15, so the answer is 15. " * 4,
            "The sum of 7 and 8 is 15, so the answer is 15.",
        ),
        (
            "Plants need light. " + "They grow tall and green in the warm sun. " * 4,
            "Plants need light. They grow tall and green in the warm sun.",
        ),
    ],
)
def test_a_loop_is_trimmed_to_its_first_copy_and_never_streamed(
    bundled_model: Any, text: str, expected: str
) -> None:
    chunks, answer = streamed(bundled_model.tokenizer, text)
    assert answer.loop_stopped and answer.ended
    assert answer.text == expected == "".join(chunks)


def test_text_that_does_not_loop_streams_whole(bundled_model: Any) -> None:
    text = "7 x 8 = 56. We check: 8 + 8 + 8 + 8 + 8 + 8 + 8 = 56, so 7 x 8 = 56."
    chunks, answer = streamed(bundled_model.tokenizer, text)
    assert "".join(chunks) == answer.text == text and not answer.loop_stopped


def test_a_request_gets_its_own_sampling_and_the_servers_repetition_defaults() -> None:
    request = GenerateRequest(
        prompt="hi", grade_level="4", subject="math", temperature=0.5, top_p=0.9, seed=3, stop="Q:"
    )
    engine = EngineConfig(repetition_penalty=1.15, no_repeat_ngram_size=9)
    assert request_params(request, engine) == SamplingParams(
        256,
        temperature=0.5,
        top_p=0.9,
        seed=3,
        stop=("Q:",),
        repetition_penalty=1.15,
        no_repeat_ngram_size=9,
    )
