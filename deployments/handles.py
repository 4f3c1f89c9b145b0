"""Serve's deployment handles as the tutor service's collaborators (`aivo.service.protocols`):
calls without side effects retried after a crash (`calls`), routing affinity by student."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ray.serve.handle import DeploymentHandle

from aivo.adapters import StudentAdapter
from aivo.curriculum.prepared import FinishedAnswer, PreparedPrompt
from aivo.engine.generation import Generation, GenerationStart
from aivo.engine.sampling import SamplingParams
from aivo.observability import pseudonym
from aivo.schemas import CloneJob, GenerateRequest, JobReport
from aivo.service import ForgottenClones
from deployments import calls


class PreprocessorHandle:
    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def prepare(self, request: GenerateRequest) -> PreparedPrompt:
        prepared: PreparedPrompt = await calls.call(self.handle.prepare, request)
        return prepared

    async def finish(self, request: GenerateRequest, text: str) -> FinishedAnswer:
        finished: FinishedAnswer = await calls.call(self.handle.finish, request, text)
        return finished


class InferenceHandle:
    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    def _routed(self, student_id: str | None, stream: bool) -> DeploymentHandle:
        """Requests with a student adapter prefer a replica that already serves the student.
        Serve labels metrics and logs with the routing id: it is the student's pseudonym."""
        if student_id is None:
            return self.handle.options(stream=stream)
        return self.handle.options(stream=stream, multiplexed_model_id=pseudonym(student_id) or "")

    def stream(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        student_id: str | None = None,
        adapter: StudentAdapter | None = None,
    ) -> AsyncIterator[str | GenerationStart | Generation]:
        return calls.stream(
            self._routed(student_id, stream=True).stream, messages, params, student_id, adapter
        )

    async def status(self) -> dict[str, object]:
        status: dict[str, object] = await calls.call(self.handle.status)
        return status


class CloneCoordinatorHandle:
    """Not retried: a clone has side effects, and a crash is answered by the caller's retry."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def clone(self, student_id: str, dataset: bytes) -> CloneJob:
        job: CloneJob = await self.handle.clone.remote(student_id, dataset)
        return job

    async def job(self, job_id: str, tenant: str) -> JobReport:
        report: JobReport = await self.handle.job.remote(job_id, tenant)
        return report

    async def forget(self, student_id: str) -> ForgottenClones:
        forgotten: ForgottenClones = await self.handle.forget.remote(student_id)
        return forgotten
