"""The curriculum preprocessor's logic: from a request to the model's messages, and back.

Interface used by `deployments/preprocessor.py`: `CurriculumPipeline(config)`, then
`prepare(request) -> PreparedPrompt` and `finish(request, text) -> FinishedAnswer`.
Stateless between requests and CPU-only: construction loads the catalogue, the key ideas and
the embedding model and embeds every standard, key idea and screening exemplar once; each
`prepare` embeds the prompt once, for screening, alignment and key ideas, and each earlier
student turn once, for screening.
A computable math question also gets a `TutorPlan` from the math checker (`aivo/tutoring/`);
another question on a topic of the vetted key ideas, a `Grounding` (`key_ideas.py`).
"""

from __future__ import annotations

import numpy as np

from aivo.config import CurriculumConfig, TutoringConfig
from aivo.curriculum.alignment import StandardsAligner
from aivo.curriculum.catalogue import Catalogue, load_catalogue
from aivo.curriculum.formatting import apply_accommodations
from aivo.curriculum.key_ideas import KeyIdeaLibrary, load_key_ideas
from aivo.curriculum.plain_language import plain_answer
from aivo.curriculum.prepared import FinishedAnswer, PreparedPrompt
from aivo.curriculum.prompting import build_prompt
from aivo.curriculum.readability import reading_level
from aivo.curriculum.sentences import without_repeats
from aivo.embedding import SentenceEmbedder
from aivo.safety.output import check_output, safe_answer
from aivo.safety.pii import redact_pii
from aivo.safety.screening import (
    RESEMBLES_ATTACK,
    ScreeningVerdict,
    check_prompt,
    neutralise,
    rejection,
)
from aivo.safety.semantic import InjectionClassifier
from aivo.schemas import GenerateRequest, StandardMatch, Turn, grade_number
from aivo.tutoring.audit import asks_computation
from aivo.tutoring.moves import plan_move


class CurriculumPipeline:
    def __init__(
        self,
        config: CurriculumConfig,
        *,
        catalogue: Catalogue | None = None,
        embedder: SentenceEmbedder | None = None,
        tutoring: TutoringConfig | None = None,
        key_ideas: KeyIdeaLibrary | None = None,
    ) -> None:
        self.config = config
        self.tutoring = tutoring or TutoringConfig()
        self.catalogue = catalogue if catalogue is not None else load_catalogue()
        self.embedder = embedder or SentenceEmbedder()
        self.aligner = StandardsAligner(self.catalogue, self.embedder)
        self.injections = InjectionClassifier(self.embedder)
        self.key_ideas = key_ideas or KeyIdeaLibrary(load_key_ideas(), self.embedder)

    def prepare(self, request: GenerateRequest) -> PreparedPrompt:
        """Screen, redact, align, plan and build the messages; PromptRejected for an attack in
        the prompt, an earlier student turn or the learner's answer."""
        question, vector, redacted = self._screened(request.prompt)
        history = []
        for turn in request.history:
            if turn.role == "student":
                text, _, kinds = self._screened(turn.text)
                redacted += kinds
            else:
                text = redact_pii(turn.text).text
            if text.strip():  # a turn of only control characters or spaces says nothing
                history.append(Turn(role=turn.role, text=text))
        student_answer = None
        if request.student_answer is not None:
            student_answer, _, kinds = self._screened(request.student_answer)
            redacted += kinds
        standards = self.align(request, question, vector)
        grade = grade_number(request.grade_level)
        plan, grounding = None, None
        if self.tutoring.checks:
            plan = plan_move(request.mode, question, grade, history, student_answer)
            if plan is None and self.tutoring.key_ideas:
                explained = [t.text for t in history if t.role == "tutor"]
                grounding = self.key_ideas.ground(
                    request.mode, question, vector, request.subject, grade, explained
                )
        numbers_from: tuple[str, ...] = ()
        if self.tutoring.checks and plan is None and grounding is None:
            texts = (question, *(t.text for t in history), *filter(None, [student_answer]))
            numbers_from = texts if asks_computation(question, request.subject) else ()
        material = plan.material if plan else grounding.material if grounding else ()
        prompt = build_prompt(
            request,
            question,
            standards,
            [("user" if t.role == "student" else "assistant", t.text) for t in history],
            list(material),
        )
        return PreparedPrompt(
            prompt,
            standards,
            plan,
            redacted=tuple(dict.fromkeys(redacted)),
            grounding=grounding,
            numbers_from=numbers_from,
        )

    def _screened(self, text: str) -> tuple[str, np.ndarray, tuple[str, ...]]:
        """The learner's text with personal data redacted, and its embedding; PromptRejected
        for an attack."""
        check_prompt(text)
        redaction = redact_pii(neutralise(text))  # embedded and sent as the model gets it
        vector = self.embedder.encode([redaction.text])[0]
        if self.injections.is_attack(vector):
            raise rejection(ScreeningVerdict(RESEMBLES_ATTACK))
        return redaction.text, vector, redaction.kinds

    def align(
        self, request: GenerateRequest, text: str, vector: np.ndarray | None = None
    ) -> list[StandardMatch]:
        matches = self.aligner.align(
            text,
            grade_number(request.grade_level),
            request.subject,
            self.config.max_standards,
            vector,
        )
        return [
            StandardMatch(
                code=m.standard.code, description=m.standard.description, score=round(m.score, 4)
            )
            for m in matches
            if m.score >= self.config.min_score
        ]

    def finish(self, request: GenerateRequest, text: str) -> FinishedAnswer:
        """Output safety, personal data redacted, no sentence said twice, plain language where the
        answer reads above its band, accommodation formatting, then the answer's reading level."""
        grade = grade_number(request.grade_level)
        verdict = check_output(text)
        if verdict.flagged:
            answer = safe_answer(verdict)
        else:
            answer = redact_pii(text).text.strip()  # a model may repeat or invent personal data
            if self.tutoring.checks:
                answer = plain_answer(without_repeats(answer), grade)
            answer = apply_accommodations(answer, request.accommodations, grade)
        return FinishedAnswer(answer, reading_level(answer, grade), replaced_unsafe=verdict.flagged)
