"""CurriculumPreprocessor: screening, standards alignment and prompt building (CPU, stateless)."""

from __future__ import annotations

import torch

from aivo.config import AppConfig
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.curriculum.prepared import FinishedAnswer, PreparedPrompt
from aivo.error_tracking import init_error_tracking
from aivo.observability import SCREENING_REJECTIONS
from aivo.safety.screening import REASONS
from aivo.schemas import GenerateRequest
from aivo.security.pseudonyms import key_pseudonyms


class CurriculumPreprocessor:
    def __init__(self, config: AppConfig) -> None:
        init_error_tracking("preprocessor")
        key_pseudonyms(config.security.pseudonym_key)
        for reason in REASONS:  # each reason's series from the start: rate() sees its first
            SCREENING_REJECTIONS.labels(reason=reason).inc(0)
        # More threads than one small embedding needs only contend with the inference replica.
        torch.set_num_threads(config.curriculum.torch_threads)
        self.pipeline = CurriculumPipeline(config.curriculum, tutoring=config.tutoring)

    def prepare(self, request: GenerateRequest) -> PreparedPrompt:
        return self.pipeline.prepare(request)

    def finish(self, request: GenerateRequest, text: str) -> FinishedAnswer:
        return self.pipeline.finish(request, text)
