"""CloneCoordinator: turns clone requests into Ray jobs (`jobs/clone_student.py`) and reports on
them. One job per student at a time: a second request while one runs gets that job back."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from ray._private.ray_constants import DASHBOARD_ADDRESS, KV_NAMESPACE_DASHBOARD
from ray.experimental.internal_kv import _internal_kv_get
from ray.job_submission import JobStatus, JobSubmissionClient

from aivo.adapters import AdapterStore, open_store
from aivo.adapters.layout import checked_student_id
from aivo.config import AppConfig
from aivo.error_tracking import init_error_tracking
from aivo.errors import ModelUnavailable, NotFound, ServiceUnavailable
from aivo.observability import CLONE_JOBS, get_logger, log_event, pseudonym
from aivo.schemas import CloneJob, JobReport
from aivo.service import ForgottenClones
from aivo.training.dataset import parse_dataset
from aivo.training.dataset_store import DatasetStore, open_dataset_store
from aivo.training.results import CloneStatus, parse_clone_results
from aivo.training.settings import CloneJobConfig

REPOSITORY = Path(__file__).resolve().parents[1]
JOB_MARK = "aivo-clone"
RUNNING = {JobStatus.PENDING, JobStatus.RUNNING}
NO_AGENT = "No available agent to submit job"  # the job API's answer while its agent starts
SUBMIT_ATTEMPTS = 5
OUTCOME_POLL_S = 5.0  # how often a running job is asked whether it has ended, to count it
STOPPED = "stopped"

log = get_logger("aivo.clone")


class CloneCoordinator:
    def __init__(
        self,
        config: AppConfig,
        *,
        store: AdapterStore | None = None,
        datasets: DatasetStore | None = None,
        client: JobSubmissionClient | None = None,
    ) -> None:
        init_error_tracking("clone_coordinator")
        self.config = config
        self.store = store if store is not None else open_store(config.storage)
        self.datasets = datasets if datasets is not None else open_dataset_store(config.storage)
        self.running: dict[str, str] = {}  # student id -> job id, while it runs
        self._client = client  # None: this cluster's job API, found on first use
        self._expired_at = 0.0
        self._counting: set[asyncio.Task[None]] = set()
        for outcome in (*CloneStatus, STOPPED):  # from the start: rate() sees the first job
            CLONE_JOBS.labels(outcome=outcome).inc(0)

    def client(self) -> JobSubmissionClient:
        if self._client is None:
            # Ray's local clusters protect the dashboard with a token only found in this mode.
            os.environ.setdefault("RAY_AUTH_MODE", "token")
            address = self.config.clone.dashboard_address or _cluster_dashboard()
            self._client = JobSubmissionClient(address)
        return self._client

    async def clone(self, student_id: str, dataset: bytes) -> CloneJob:
        student_id = checked_student_id(student_id)
        job_id = self.running.get(student_id)
        if job_id is not None and await self._status(job_id) in RUNNING:
            return CloneJob(job_id=job_id, student_id=student_id, status="RUNNING")
        parse_dataset(dataset)  # a bad line answers 422 here, not minutes later in the job
        await self._expire_datasets()
        uri = await asyncio.to_thread(self.datasets.save, student_id, dataset)
        command = [
            sys.executable,  # this cluster's Python, whether or not it is on PATH
            "jobs/clone_student.py",
            "--student-id",
            student_id,
            "--dataset",
            uri,
            "--job-config",
            CloneJobConfig.of(self.config).model_dump_json(),
        ]
        job_id = f"{JOB_MARK}-{uuid.uuid4().hex[:12]}"
        await self._submit(
            entrypoint=shlex.join(command),
            submission_id=job_id,
            runtime_env={
                "working_dir": str(REPOSITORY),
                "excludes": [".venv", ".git", "var", "bench/results", "**/__pycache__"],
                "env_vars": _passed_environment(),
            },
            metadata={"aivo": JOB_MARK, "student": pseudonym(student_id) or ""},
        )
        self.running[student_id] = job_id
        task = asyncio.create_task(self._count_outcome(job_id))
        self._counting.add(task)
        task.add_done_callback(self._counting.discard)
        return CloneJob(job_id=job_id, student_id=student_id, status="PENDING")

    async def job(self, job_id: str) -> JobReport:
        if not job_id.startswith(f"{JOB_MARK}-"):  # other jobs on the cluster are not ours to show
            raise NotFound(f"no clone job {job_id}")
        status = await self._status(job_id)
        results = await self._results(job_id) if status.is_terminal() else None
        return JobReport(job_id=job_id, status=status.value, results=results)

    async def _results(self, job_id: str) -> list[dict[str, Any]]:
        logs = await asyncio.to_thread(self.client().get_job_logs, job_id)
        return parse_clone_results(logs)

    async def _count_outcome(self, job_id: str) -> None:
        """Once the job has ended, counts it by outcome: its student's result, `stopped`, or
        `failed` when it ended without one. Jobs that end while no replica watches go uncounted."""
        while True:
            try:
                status = await self._status(job_id)
                if status.is_terminal():
                    results = [] if status == JobStatus.STOPPED else await self._results(job_id)
                    break
            except NotFound:  # forgotten (deleted) before it ended
                return
            except requests.RequestException:  # the job API is restarting: ask again later
                pass
            await asyncio.sleep(OUTCOME_POLL_S)
        if status == JobStatus.STOPPED:
            outcome = STOPPED
        elif results:
            outcome = CloneStatus(results[-1]["status"]).value
        else:
            outcome = CloneStatus.failed.value
        CLONE_JOBS.labels(outcome=outcome).inc()

    async def forget(self, student_id: str) -> ForgottenClones:
        """Removes the student's stored training data and job records (what DELETE reports)."""
        datasets = await asyncio.to_thread(self.datasets.delete_student, student_id)
        job_id = self.running.pop(student_id, None)
        jobs = 0
        if job_id is not None:
            if await self._status(job_id) in RUNNING:
                await asyncio.to_thread(self.client().stop_job, job_id)
            jobs = int(await asyncio.to_thread(self.client().delete_job, job_id))
        return ForgottenClones(training_datasets=datasets, job_records=jobs)

    async def _submit(self, **job: Any) -> None:
        """Submit, waiting out a job API that is still starting (a new head's job agent comes up
        after its dashboard): then 503, which the caller may retry."""
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                await asyncio.to_thread(self.client().submit_job, **job)
                return
            except (RuntimeError, requests.ConnectionError) as error:
                transient = isinstance(error, requests.ConnectionError) or NO_AGENT in str(error)
                if not transient:
                    raise
                log_event(log, "job API not ready", attempt=attempt + 1)
                await asyncio.sleep(2.0 * (attempt + 1))
        raise ServiceUnavailable("the Ray job API is not ready; retry shortly", retry_after_s=10)

    async def _status(self, job_id: str) -> JobStatus:
        try:
            return await asyncio.to_thread(self.client().get_job_status, job_id)
        except RuntimeError:  # the client's answer for an unknown id
            raise NotFound(f"no clone job {job_id}") from None

    async def _expire_datasets(self) -> None:
        """At most hourly: remove training data older than the retention setting."""
        if time.monotonic() - self._expired_at < 3600 and self._expired_at:
            return
        self._expired_at = time.monotonic()
        retention_s = self.config.storage.dataset_retention_days * 86_400
        await asyncio.to_thread(self.datasets.expire, retention_s)


def _cluster_dashboard() -> str:
    """This cluster's dashboard, as its head registered it (workers do not know the port)."""
    url = _internal_kv_get(DASHBOARD_ADDRESS, namespace=KV_NAMESPACE_DASHBOARD)
    if url is None:
        raise ModelUnavailable("the Ray dashboard (job API) is not running", retry_after_s=30)
    return f"http://{url.decode()}"


def _passed_environment() -> dict[str, str]:
    """Credentials and endpoints the job needs, from this replica's environment."""
    names = (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "HF_HOME",
    )
    return {name: os.environ[name] for name in names if name in os.environ}
