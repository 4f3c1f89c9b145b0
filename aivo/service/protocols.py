"""What the tutor service calls: the preprocessor, the inference replicas and the clone
coordinator. Serve's deployment handles satisfy these through `deployments/handles.py`; tests
pass small real objects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from aivo.adapters import StudentAdapter
from aivo.curriculum.prepared import FinishedAnswer, PreparedPrompt
from aivo.engine.generation import Generation, GenerationStart
from aivo.engine.sampling import SamplingParams
from aivo.schemas import CloneJob, GenerateRequest, JobReport


class Preprocessor(Protocol):
    async def prepare(self, request: GenerateRequest) -> PreparedPrompt: ...

    async def finish(self, request: GenerateRequest, text: str) -> FinishedAnswer: ...


class Inference(Protocol):
    """`student_id` and `adapter` are both None when the base model serves."""

    def stream(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        student_id: str | None = None,
        adapter: StudentAdapter | None = None,
    ) -> AsyncIterator[str | GenerationStart | Generation]:
        """A GenerationStart, text chunks as they are produced, then the Generation; closing
        it early stops the generation."""
        ...

    async def status(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class ForgottenClones:
    """What the coordinator removed of a deleted student."""

    training_datasets: int
    job_records: int


class CloneJobs(Protocol):
    """Students are named by their owned id (`aivo.tenancy`)."""

    async def clone(self, student_id: str, dataset: bytes) -> CloneJob: ...

    async def job(self, job_id: str, tenant: str) -> JobReport:
        """The clone job if it is the tenant's; NotFound for an unknown or another's job."""
        ...

    async def forget(self, student_id: str) -> ForgottenClones:
        """Stops the student's clone jobs and waits (bounded) for them to end, then removes
        their job records and the student's training data; raises (503) when it could not."""
        ...
