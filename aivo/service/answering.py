"""The answering loop: the model writes, the checks read, and only checked text reaches the learner.

On a computable problem (a `TutorPlan`) the model's text is audited as it is written (every
number, every calculation) and again when it ends (the final answer for the tutoring move). The
first failure stops that generation at once, and the model continues from the plan's worked
text instead (a second, constrained generation, short); what of that continuation fails the
audit is cut, so the worked text alone remains, correct by construction. Nothing of a planned
answer is released before it has passed.

Elsewhere text is released as it comes, less a held-back window (`Holdback`): a read-back of
the prompt (`LeakWatch`) or unsafe text found in the window stops the generation, and what was
held is never sent. A read-back is removed; when little is left, the model answers again from a
prompt without instructions (nothing there to read back). Such an answer's opening is also held
until its reading level can be measured: when it reads far above the learner's band, the model
answers once more from the plainer prompt, and the opening closer to the band goes on.

On a question about a key idea of the vetted library (a `Grounding` with an answer), the answer
is the vetted text, sent at once; the model is not asked.

On a question that asks for a computation the checker could not solve (`numbers_from`: the
conversation's texts), nothing is released before it is audited either: the model's text may
state only the numbers given and true calculations on them. The first number it cannot vouch for
stops the generation, and the learner gets a way to work the problem out instead, with no number
in it: nothing the tutor could not check.

Every generation of one answer draws on the request's `max_tokens`: a second or third one gets
only what the earlier ones left, so an answer never costs more than the learner's budget held
for it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import sympy

from aivo.curriculum.key_ideas import VETTED_MODEL, Grounding
from aivo.curriculum.plain_language import level_offset
from aivo.curriculum.prompting import Messages, Prompt
from aivo.curriculum.readability import MIN_PROSE_WORDS, prose_words
from aivo.engine.generation import Completion, Generation, GenerationStart
from aivo.errors import GenerationTimeout
from aivo.safety.holdback import Holdback
from aivo.safety.leaks import LeakCheck, LeakWatch
from aivo.safety.output import check_output
from aivo.schemas import Verification
from aivo.tutoring.answers import mentions_answer
from aivo.tutoring.audit import audit_answer, audit_numbers, audit_written, given_numbers
from aivo.tutoring.explanations import WORK_IT_OUT, band
from aivo.tutoring.moves import TutorPlan

CONTINUATION_TOKENS = 32  # the constrained generation adds one sentence to the worked text
# The model's own answer to a computable problem may run to twice the worked text's length (a
# token is about 4 characters), 48 tokens at least: one longer has left the checked steps
# behind, and on a CPU its time would run out before it ends.
PLANNED_LENGTH = 2
CHARS_PER_TOKEN = 4
MIN_PLANNED_TOKENS = 48
TIMED_OUT = "timed_out"  # why a planned generation stopped: its time ran out
REPEAT_WORDS = 10  # a continuation's sentence with one new word in ten repeats the worked text
MIN_KEPT = 0.5  # a scrubbed answer shorter than this share of the original is answered again
ENOUGH = "one_sentence"  # why a continuation stops when nothing is wrong with it
TOO_HARD = "too_hard"  # why a first answer stops: its opening reads far above the band
NOT_PLAINER = "not_plainer"  # why a second one stops: it reads no closer to the band
UNCHECKED = "unchecked"  # why an answer to an unsolved computation stops: a number not vouched
FAR_ABOVE = 2.0  # grades above the band's top (as the learner would get it) that call for it
_SENTENCE_END = re.compile(r"[.!?\n]")

# A replica's stream: its GenerationStart, text chunks, then its Generation.
ReplicaItem = str | GenerationStart | Generation
Generate = Callable[[Messages, int], AsyncIterator[ReplicaItem]]


class Gate(Protocol):
    """Why to stop an answer whose opening reads as `text` (None: go on)."""

    def __call__(self, text: str, *, ended: bool = False) -> str | None: ...


@dataclass(frozen=True)
class TutoredAnswer:
    text: str
    generation: Generation  # the last one, with the usage of every generation summed
    verification: Verification | None
    leak_removed: bool = False
    plainer: bool = False  # answered again from the plainer prompt, and that answer was kept


@dataclass
class _Attempt:
    text: str = ""
    start: GenerationStart | None = None
    generation: Generation | None = None
    chunks: int = 0
    stopped: str | None = None  # why the checks stopped it early

    def take(self, item: ReplicaItem) -> str | None:
        """Record a stream item; the text chunk, if it is one."""
        if isinstance(item, GenerationStart):
            self.start = item
        elif isinstance(item, Generation):
            self.generation = item
        else:
            self.text += item
            self.chunks += 1
            return item
        return None

    def result(self) -> Generation:
        if self.generation is not None:
            return self.generation
        if self.start is None:
            raise RuntimeError("a replica stream ended before it started")
        return self.start.stopped(self.text, self.chunks)


async def answer(
    prompt: Prompt,
    plan: TutorPlan | None,
    generate: Generate,
    max_tokens: int,
    *,
    checks: bool = True,
    grounding: Grounding | None = None,
    numbers_from: Sequence[str] = (),
) -> AsyncIterator[str | TutoredAnswer]:
    """Checked text as it may be released, then the TutoredAnswer. `checks` False passes the
    model's text through unread (only to measure what the checks do)."""
    leaks = LeakCheck.of(prompt.instructions, prompt.canary, prompt.labels)
    if not checks:
        attempt = _Attempt()
        async for replica_item in generate(prompt.messages, max_tokens):
            chunk = attempt.take(replica_item)
            if chunk is not None:
                yield chunk
        yield TutoredAnswer(attempt.text.strip(), attempt.result(), None)
        return
    if grounding is not None and grounding.answer:
        yield grounding.answer
        vetted = Completion(grounding.answer, 0, 0, "stop")
        yield TutoredAnswer(grounding.answer, Generation(vetted, VETTED_MODEL, False, None), None)
        return
    if plan is None and numbers_from:
        vouched = given_numbers(*numbers_from)
        async for item in _unsolved(prompt, vouched, leaks, generate, max_tokens):
            yield item
        return
    if plan is None:
        async for item in _explained(prompt, leaks, generate, max_tokens):
            yield item
        return
    used: list[Generation] = []
    opened = _seeded(prompt.messages, plan.opening)
    worked_tokens = len(plan.worked) // CHARS_PER_TOKEN
    first_tokens = min(max_tokens, max(MIN_PLANNED_TOKENS, PLANNED_LENGTH * worked_tokens))
    first = await _planned_attempt(
        opened, plan, leaks, generate, first_tokens, plan.opening, one_sentence=bool(plan.opening)
    )
    used.append(first.result())
    failed = first.stopped not in (None, ENOUGH) or not _passes(first.text, plan)
    text, corrected = first.text.strip(), failed
    if corrected:
        text = plan.worked
        if (budget := min(CONTINUATION_TOKENS, _left(max_tokens, used))) > 0:
            seeded = _seeded(prompt.messages, plan.worked + "\n")
            second = await _planned_attempt(
                seeded, plan, leaks, generate, budget, plan.worked + "\n", one_sentence=True
            )
            used.append(second.result())
            text = _checked_continuation(plan, leaks, second.text)
    if not check_output(text).flagged:  # unsafe: the service replaces it, so none is sent
        yield text
    yield TutoredAnswer(text, _summed(used), _verification(plan, text, corrected))


async def _planned_attempt(
    messages: Messages,
    plan: TutorPlan,
    leaks: LeakCheck,
    generate: Generate,
    max_tokens: int,
    seed: str,
    *,
    one_sentence: bool = False,
) -> _Attempt:
    """One generation continuing `seed`, audited at each sentence end; stopped at the first
    failure (or, `one_sentence`, after the first sentence it adds)."""
    attempt = _Attempt(text=seed)
    try:
        async for chunk in _watched(attempt, generate(messages, max_tokens), LeakWatch(leaks)):
            if _SENTENCE_END.search(chunk):
                attempt.stopped = _audit_so_far(attempt.text, plan)
                if one_sentence and not attempt.stopped and attempt.text.strip() != seed.strip():
                    attempt.stopped = ENOUGH  # a continuation adds one sentence
    except GenerationTimeout:  # the worked text answers in time, checked
        attempt.stopped = TIMED_OUT
    return attempt


async def _watched(
    attempt: _Attempt, stream: AsyncIterator[ReplicaItem], watch: LeakWatch
) -> AsyncIterator[str]:
    """The stream's text chunks, recorded in `attempt`, until the caller sets
    `attempt.stopped` or a read-back trips the watch; the stream is closed either way (which
    stops the generation on the replica)."""
    try:
        async for item in stream:
            chunk = attempt.take(item)
            if chunk is None:
                continue
            if watch.feed(chunk):
                attempt.stopped = "leak"
                return
            yield chunk
            if attempt.stopped:
                return
        if watch.close():
            attempt.stopped = "leak"
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def _seeded(messages: Messages, text: str) -> Messages:
    """The messages with `text` as the start of the model's answer (nothing: unchanged)."""
    return [*messages, {"role": "assistant", "content": text}] if text else messages


def _audit_so_far(text: str, plan: TutorPlan) -> str | None:
    """Why the text written so far already fails, or None."""
    finding = audit_written(
        text,
        plan.solution,
        plan.question,
        may_state_answer=plan.may_state_answer,
        checked=plan.worked,
    )
    return finding.reason if finding else None


def _passes(text: str, plan: TutorPlan) -> bool:
    finding = audit_answer(
        text,
        plan.solution,
        plan.question,
        may_state_answer=plan.may_state_answer,
        checked=plan.worked,
    )
    return finding is None


def _checked_continuation(plan: TutorPlan, leaks: LeakCheck, text: str) -> str:
    """The worked text and as many whole sentences of the model's continuation as pass."""
    continuation = text.removeprefix(plan.worked + "\n")
    said = [_words(s) for s in re.split(r"(?<=[.!?])\s+|\n+", plan.worked)]
    sentences = [  # a sentence the worked text (nearly) says already is a repeat, not an addition
        s
        for s in re.split(r"(?<=[.!?])\s+", continuation.strip())
        if not any(_repeats(_words(s), words) for words in said)
    ]
    while sentences:
        candidate = f"{plan.worked}\n{' '.join(sentences)}".strip()
        if _passes(candidate, plan) and not leaks.leaks(candidate):
            return candidate
        sentences.pop()
    return plan.worked


def _words(sentence: str) -> set[str]:
    return set(re.findall(r"\w+", sentence.lower()))


def _repeats(sentence: set[str], said: set[str]) -> bool:
    """Whether a sentence says (nearly) what one already said does: all of its words there, or
    all but one word in ten ("hundreds" for "hundredths" is a repeat gone wrong)."""
    return bool(sentence) and len(sentence - said) <= len(sentence) // REPEAT_WORDS


async def _unsolved(
    prompt: Prompt,
    vouched: set[sympy.Expr],
    leaks: LeakCheck,
    generate: Generate,
    max_tokens: int,
) -> AsyncIterator[str | TutoredAnswer]:
    """An answer to a computation the checker could not solve: audited at each sentence end and
    stopped at the first number it cannot vouch for, which replaces it with a way to work the
    problem out; released whole once it has passed."""
    attempt = _Attempt()
    async for chunk in _watched(attempt, generate(prompt.messages, max_tokens), LeakWatch(leaks)):
        if _SENTENCE_END.search(chunk) and audit_numbers(attempt.text, vouched):
            attempt.stopped = UNCHECKED
    if attempt.stopped is None and audit_numbers(attempt.text, vouched):  # its last words
        attempt.stopped = UNCHECKED
    removed = attempt.stopped == "leak"
    text = leaks.scrub(attempt.text) if removed else attempt.text
    if attempt.stopped == UNCHECKED or not text.strip():
        text = WORK_IT_OUT[band(prompt.grade or 0)]
    if not check_output(text).flagged:  # unsafe: the service replaces it, so none is sent
        yield text
    yield TutoredAnswer(text.strip(), attempt.result(), None, leak_removed=removed)


async def _explained(
    prompt: Prompt, leaks: LeakCheck, generate: Generate, max_tokens: int
) -> AsyncIterator[str | TutoredAnswer]:
    """An answer with nothing to compute: released behind a window, read-backs removed. Its
    opening is held until its reading level can be measured; far above the band, it stops and
    the model answers once more from the plainer prompt, and the opening closer to the band
    goes on (the first by a seeded continuation)."""
    first = _Attempt()
    held = prompt.plainer is not None and prompt.grade is not None
    gate = partial(_too_hard, grade=prompt.grade) if held else None
    async for chunk in _released(first, generate(prompt.messages, max_tokens), leaks, gate):
        yield chunk
    used = [first.result()]
    attempt, plainer = first, False
    opening_tokens = used[0].completion.completion_tokens
    if first.stopped == TOO_HARD and prompt.plainer is not None:
        if _left(max_tokens, used) >= opening_tokens:  # room for an opening as long again
            second = _Attempt()
            gate = partial(_no_plainer, grade=prompt.grade, than=first.text)
            stream = generate(prompt.plainer, _left(max_tokens, used))
            async for chunk in _released(second, stream, leaks, gate):
                yield chunk
            used.append(second.result())
            attempt, plainer = second, second.stopped != NOT_PLAINER
        if not plainer:  # the first goes on where it stopped, on what is left
            attempt = _Attempt(text=first.text)
            seeded = _seeded(prompt.messages, first.text)
            resumed = _within(generate, seeded, _left(max_tokens, used))
            async for chunk in _released(attempt, resumed, leaks, None):
                yield chunk
            if attempt.start is not None:
                used.append(attempt.result())
    text, removed = attempt.text, attempt.stopped == "leak"
    if removed:
        text = leaks.scrub(attempt.text)
        if len(text) < MIN_KEPT * len(attempt.text) and (left := _left(max_tokens, used)) > 0:
            retry = await _collect(generate(_without_instructions(prompt), left))
            used.append(retry.result())
            text = leaks.scrub(retry.text)
    yield TutoredAnswer(text.strip(), _summed(used), None, leak_removed=removed, plainer=plainer)


async def _released(
    attempt: _Attempt,
    stream: AsyncIterator[ReplicaItem],
    leaks: LeakCheck,
    gate: Gate | None,
) -> AsyncIterator[str]:
    """`attempt`'s text as it may be released: behind the held-back window, until a read-back or
    unsafe text stops it. With a `gate`, nothing is released before the text has enough prose
    to measure its reading level; then the gate says why to stop it (or None: go on). A text
    that ends before that is given to the gate as it is (`ended=True`)."""
    held = Holdback()
    pending = held.feed(attempt.text)  # a continued attempt starts with text never sent yet
    async for chunk in _watched(attempt, stream, LeakWatch(leaks)):
        pending += held.feed(chunk)
        if held.verdict is not None:
            attempt.stopped = "unsafe"
            continue
        if gate is not None:
            if prose_words(attempt.text) < MIN_PROSE_WORDS:
                continue
            attempt.stopped, gate = gate(attempt.text), None
            if attempt.stopped:
                continue
        if pending:
            yield pending
            pending = ""
    if gate is not None and attempt.stopped is None:
        attempt.stopped = gate(attempt.text, ended=True)
    if attempt.stopped is None and (rest := pending + held.close()):
        yield rest


def _too_hard(text: str, *, grade: int | None, ended: bool = False) -> str | None:
    """TOO_HARD when the opening reads far above the band; a short answer goes as it is."""
    if ended or grade is None:
        return None
    return TOO_HARD if level_offset(text, grade) > FAR_ABOVE else None


def _no_plainer(text: str, *, grade: int | None, than: str, ended: bool = False) -> str | None:
    """NOT_PLAINER when `text` reads no closer to the band than `than` (the first opening), the
    two measured over the same number of words (`text` may end, or run out of tokens, first)."""
    if grade is None:
        return None
    words = min(len(text.split()), len(than.split()))
    second, first = (" ".join(t.split()[:words]) for t in (text, than))
    if abs(level_offset(second, grade)) < abs(level_offset(first, grade)):
        return None
    return NOT_PLAINER


def _without_instructions(prompt: Prompt) -> Messages:
    """The conversation with the instructions and notes left out: nothing to read back."""
    persona = prompt.instructions[0]
    turns = [m for m in prompt.messages if m["role"] != "system"]
    return [{"role": "system", "content": persona}, *turns]


def _left(max_tokens: int, used: list[Generation]) -> int:
    """What the generations in `used` left of the answer's `max_tokens`."""
    return max_tokens - sum(g.completion.completion_tokens for g in used)


async def _within(
    generate: Generate, messages: Messages, tokens: int
) -> AsyncIterator[ReplicaItem]:
    """`generate`'s stream, or nothing when no tokens are left for it."""
    if tokens > 0:
        async for item in generate(messages, tokens):
            yield item


async def _collect(stream: AsyncIterator[ReplicaItem]) -> _Attempt:
    attempt = _Attempt()
    async for item in stream:
        attempt.take(item)
    return attempt


def _summed(generations: list[Generation]) -> Generation:
    """The last generation, carrying the tokens that all of them cost."""
    last = generations[-1]
    completion = Completion(
        last.completion.text,
        sum(g.completion.prompt_tokens for g in generations),
        sum(g.completion.completion_tokens for g in generations),
        last.completion.finish_reason,
    )
    return dataclasses.replace(last, completion=completion)


def _verification(plan: TutorPlan, text: str, corrected: bool) -> Verification:
    return Verification(
        problem=plan.solution.problem,
        answer=plan.solution.answer_text,
        answer_in_text=mentions_answer(text, plan.solution),
        corrected=corrected,
        student_answer_correct=plan.student_answer_correct,
    )
