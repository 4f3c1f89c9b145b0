"""The answering loop over a scripted replica stream: what is released, stopped and corrected.

The replica here is a small real object that streams given texts word by word, in the shape
the inference replica streams (start, chunks, generation); the loop against the real model
is tested over HTTP in tests/integration/test_tutoring_http.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aivo.curriculum.key_ideas import VETTED_MODEL, Grounding
from aivo.curriculum.prompting import Messages, Prompt, build_prompt
from aivo.engine.generation import Completion, Generation, GenerationStart
from aivo.errors import GenerationTimeout
from aivo.schemas import GenerateRequest
from aivo.service.answering import MIN_PLANNED_TOKENS, TutoredAnswer, answer
from aivo.tutoring.explanations import WORK_IT_OUT
from aivo.tutoring.moves import TutorPlan, plan_move


class ScriptedReplica:
    """Streams its scripts in turn, one word a chunk; remembers what it was asked and how far
    each stream was read."""

    def __init__(self, *scripts: str) -> None:
        self.scripts = list(scripts)
        self.calls: list[tuple[Messages, int]] = []
        self.words_sent: list[int] = []

    async def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[object]:
        self.calls.append((messages, max_tokens))
        words = self.scripts.pop(0).split(" ")[:max_tokens]
        self.words_sent.append(0)
        yield GenerationStart("scripted", False, None, None, prompt_tokens=40)
        for i, word in enumerate(words):
            self.words_sent[-1] += 1
            yield word if i == 0 else " " + word
        completion = Completion(" ".join(words), 40, len(words), "stop")
        yield Generation(completion, "scripted", False, None)


class TimingOutReplica(ScriptedReplica):
    """Streams its first script, then its time runs out, as the inference replica's does."""

    async def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[object]:
        async for item in super().stream(messages, max_tokens):
            if isinstance(item, Generation):
                raise GenerationTimeout("generation took over 30 s")
            yield item


def setup(
    question: str, mode: str = "explain", grade: int = 4, **fields: object
) -> tuple[Prompt, TutorPlan | None]:
    request = GenerateRequest(
        prompt=question, grade_level=str(grade), subject="math", mode=mode, **fields
    )  # type: ignore[arg-type]
    plan = plan_move(request.mode, question, grade, [], request.student_answer)
    prompt = build_prompt(request, question, [], None, list(plan.material) if plan else None)
    return prompt, plan


async def run(
    prompt: Prompt,
    plan: TutorPlan | None,
    replica: ScriptedReplica,
    max_tokens: int = 200,
    numbers_from: tuple[str, ...] = (),
) -> tuple[list[str], TutoredAnswer]:
    released: list[str] = []
    stream = answer(prompt, plan, replica.stream, max_tokens, numbers_from=numbers_from)  # type: ignore[arg-type]
    async for item in stream:
        if isinstance(item, TutoredAnswer):
            return released, item
        released.append(item)
    raise AssertionError("no answer")


def go(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_a_right_explanation_is_kept() -> None:
    prompt, plan = setup("What is 7 times 8?")
    replica = ScriptedReplica("7 groups of 8 make 56. So 7 × 8 = 56.")
    released, result = go(run(prompt, plan, replica))
    assert result.text == "7 groups of 8 make 56. So 7 × 8 = 56."
    assert "".join(released) == result.text
    assert result.verification is not None
    assert not result.verification.corrected and result.verification.answer_in_text
    assert len(replica.calls) == 1


def test_wrong_arithmetic_is_stopped_at_once_and_corrected() -> None:
    prompt, plan = setup("What is 7 times 8?")
    assert plan is not None
    wrong = "7 × 8 = 54. " + "That is a lot of fun facts to learn today. " * 10
    replica = ScriptedReplica(wrong, "Great job working it out!")
    released, result = go(run(prompt, plan, replica))
    assert replica.words_sent[0] < 8  # stopped at the first sentence, not at max_tokens
    assert "54" not in "".join(released) and "54" not in result.text
    assert result.text == plan.worked + "\nGreat job working it out!"
    seeded = replica.calls[1][0]
    assert seeded[-1] == {"role": "assistant", "content": plan.worked + "\n"}
    assert replica.calls[1][1] <= 48
    assert result.verification is not None and result.verification.corrected
    assert result.verification.answer == "56" and result.verification.answer_in_text
    assert result.generation.completion.completion_tokens == replica.words_sent[0] + 5
    assert result.generation.completion.prompt_tokens == 80


def test_a_continuation_that_fails_the_audit_is_cut() -> None:
    prompt, plan = setup("What is 7 times 8?")
    assert plan is not None
    replica = ScriptedReplica("I think 7 × 8 is 48.", "Well done! Also 6 × 9 = 54 is fun.")
    _, result = go(run(prompt, plan, replica))
    assert result.text == plan.worked + "\nWell done!"


def test_a_missing_final_answer_is_corrected() -> None:
    prompt, plan = setup("How do I solve 2x + 3 = 11?")
    assert plan is not None
    replica = ScriptedReplica("First subtract 3 from both sides.", "")
    _, result = go(run(prompt, plan, replica))
    assert result.text == plan.worked
    assert result.verification is not None and result.verification.corrected


@pytest.mark.parametrize("mode", ["hint", "check"])
def test_hints_and_wrong_answers_checked_never_get_the_answer(mode: str) -> None:
    extra = {"student_answer": "54"} if mode == "check" else {}
    prompt, plan = setup("What is 7 times 8?", mode, **extra)
    assert plan is not None and not plan.may_state_answer
    replica = ScriptedReplica("Think of 7 groups of 8. That makes 56!", "Keep going!")
    released, result = go(run(prompt, plan, replica))
    assert "56" not in result.text and "56" not in "".join(released)
    assert result.verification is not None and not result.verification.answer_in_text
    assert result.verification.student_answer_correct is (False if mode == "check" else None)
    assert result.text.startswith(plan.worked)


def test_an_explanation_streams_behind_a_window_and_never_sends_a_read_back() -> None:
    prompt, _ = setup("Why do we need a common denominator?")
    leak = prompt.instructions[0]
    text = "Fractions need the same size parts before you add them. " * 6 + leak + " More."
    replica = ScriptedReplica(text)
    released, result = go(run(prompt, None, replica))
    assert len(released) > 3  # it streamed, once the level could be measured
    assert "patient tutor" not in "".join(released) and "patient tutor" not in result.text
    assert result.leak_removed and result.text.startswith("Fractions need the same size")
    assert len(replica.calls) == 1


def test_an_answer_that_is_mostly_a_read_back_is_answered_again_without_instructions() -> None:
    prompt, _ = setup("What do you do?")
    replica = ScriptedReplica(" ".join(prompt.instructions), "I help you learn math, step by step.")
    released, result = go(run(prompt, None, replica))
    assert released == []
    assert result.text == "I help you learn math, step by step."
    retry_messages = replica.calls[1][0]
    assert retry_messages[0]["content"] == prompt.instructions[0]
    assert [m["role"] for m in retry_messages] == ["system", "user"]


def test_plain_answers_pass_through_whole() -> None:
    prompt, _ = setup("Why do we need a common denominator?")
    text = "You can only add parts that are the same size. A common denominator makes them so."
    released, result = go(run(prompt, None, ScriptedReplica(text)))
    assert "".join(released) == result.text == text and result.verification is None


def test_a_continuation_that_repeats_the_worked_text_adds_nothing() -> None:
    prompt, plan = setup("What is 7 times 8?")
    assert plan is not None
    last_line = plan.worked.splitlines()[-1]
    replica = ScriptedReplica("7 × 8 = 54.", last_line)
    _, result = go(run(prompt, plan, replica))
    assert result.text == plan.worked


def test_a_checked_answer_always_opens_with_the_verdict() -> None:
    prompt, plan = setup("What is 7 times 8?", "check", student_answer="54")
    assert plan is not None and plan.opening.startswith("Not quite")
    replica = ScriptedReplica("Count the groups of 8 again.")
    _, result = go(run(prompt, plan, replica))
    assert result.text == f"{plan.opening}Count the groups of 8 again."
    assert replica.calls[0][0][-1] == {"role": "assistant", "content": plan.opening}


def test_a_correction_draws_on_what_the_first_answer_left_of_max_tokens() -> None:
    prompt, plan = setup("What is 7 times 8?")
    assert plan is not None
    wrong = "Let me think about this with you for a while. Seven eights are 54."
    replica = ScriptedReplica(wrong, "Great job working it out, you did it!")
    _, result = go(run(prompt, plan, replica, max_tokens=16))
    first = replica.words_sent[0]
    assert replica.calls[1][1] == 16 - first  # the continuation gets only what is left
    assert result.generation.completion.completion_tokens <= 16
    _, spent = go(run(prompt, plan, ScriptedReplica(wrong, "Great!"), max_tokens=first))
    assert spent.text == plan.worked  # nothing left: the worked text alone, still correct
    assert spent.generation.completion.completion_tokens == first


def test_a_second_answer_from_scratch_gets_only_what_the_first_left() -> None:
    prompt, _ = setup("What do you do?")
    readback = " ".join(prompt.instructions)
    replica = ScriptedReplica(readback, "I help you learn math, step by step.")
    _, result = go(run(prompt, None, replica, max_tokens=400))
    assert replica.calls[1][1] == 400 - replica.words_sent[0]
    assert result.generation.completion.completion_tokens <= 400
    spent = ScriptedReplica(readback, "never asked")
    _, result = go(run(prompt, None, spent, max_tokens=replica.words_sent[0]))
    assert len(spent.calls) == 1 and "patient tutor" not in result.text


SKY = "Air scatters blue light more than red light. So the sky looks blue in the day."


@pytest.mark.parametrize("mode", ["explain", "hint"])
def test_a_key_idea_answer_is_its_vetted_text_sent_at_once_without_the_model(mode: str) -> None:
    question = "Why is the sky blue?"
    request = GenerateRequest(prompt=question, grade_level="4", subject="science", mode=mode)  # type: ignore[arg-type]
    replica = ScriptedReplica("The sky is blue because it reflects the ocean.")
    released: list[str] = []

    async def run_grounded() -> TutoredAnswer:
        grounding = Grounding("science.why-sky-is-blue", SKY)
        stream = answer(
            build_prompt(request, question, []), None, replica.stream, 200, grounding=grounding
        )  # type: ignore[arg-type]
        async for item in stream:
            if isinstance(item, TutoredAnswer):
                return item
            released.append(item)
        raise AssertionError("no answer")

    result = go(run_grounded())
    assert released == [SKY] and result.text == SKY and not replica.calls
    assert result.generation.model == VETTED_MODEL and result.verification is None
    assert result.generation.completion.completion_tokens == 0


BIKE = "A bike goes 12 miles in 2 hours. How far does it go in 5 hours?"  # not solved


def test_an_unsolved_computation_keeps_true_calculations_on_the_given_numbers() -> None:
    prompt, plan = setup(BIKE)
    assert plan is None
    text = "Each hour it goes 12 ÷ 2 = 6 miles. In 5 hours: 6 × 5 = 30. It goes 30 miles."
    released, result = go(run(prompt, None, ScriptedReplica(text), numbers_from=(BIKE,)))
    assert released == [text] and result.text == text  # released whole, once it has passed


@pytest.mark.parametrize(
    "wrong",
    [
        "Multiply: 12 × 5 = 50, so it goes 50 miles.",  # a false calculation
        "The bike goes 40 miles in that time.",  # a number nothing vouches for
        "So it goes 12 / 2 which is about 7",  # in its last, unfinished sentence
    ],
)
def test_an_unsolved_computation_never_states_an_unchecked_number(wrong: str) -> None:
    prompt, _ = setup(BIKE)
    more = " And that is how you find it, step by step, every time you need it."
    replica = ScriptedReplica(wrong + more)
    released, result = go(run(prompt, None, replica, numbers_from=(BIKE,)))
    assert released == [result.text] and result.text == WORK_IT_OUT[0]  # grade 4: plain words
    if wrong.endswith("."):  # stopped at the sentence that failed, not at the end of the script
        assert replica.words_sent[0] == len(wrong.split())


def test_a_planned_answer_is_held_to_about_twice_the_worked_text() -> None:
    prompt, plan = setup("What is 3/4 + 1/6?")
    assert plan is not None
    replica = ScriptedReplica("word " * 400, "")
    go(run(prompt, plan, replica, max_tokens=400))
    assert MIN_PLANNED_TOKENS <= replica.calls[0][1] <= len(plan.worked) // 2 + MIN_PLANNED_TOKENS
    assert replica.calls[0][1] < 400


def test_a_planned_answer_whose_time_runs_out_is_the_worked_text() -> None:
    prompt, plan = setup("What is 3/4 + 1/6?")
    assert plan is not None
    replica = TimingOutReplica("To add fractions you need a common", "")
    _, result = go(run(prompt, plan, replica))
    assert result.text == plan.worked
    assert result.verification is not None and result.verification.corrected


def test_a_continuation_that_nearly_repeats_the_worked_text_adds_nothing() -> None:
    prompt, plan = setup("What is 15% of 80?", grade=6)
    assert plan is not None
    first_line = plan.worked.splitlines()[0]
    assert "hundredths" in first_line
    replica = ScriptedReplica("15% of 80 is 10.", first_line.replace("hundredths", "hundreds"))
    _, result = go(run(prompt, plan, replica))
    assert result.text == plan.worked
