"""CloneCoordinator: turns clone requests into Ray jobs (`jobs/clone_student.py`) and reports on
them. One job per student at a time: a second request while one runs gets that job back; at
most `clone.max_concurrent_jobs` in all.

A student's clone requests and deletion take the student's lock, so a deletion sees every job
a request started; a request that waited on a deletion is refused (the tombstone says when).
Jobs carry no credentials: the cluster's nodes have them (an instance role, or a secret file
that every node reads), never a job record."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
import time
import uuid
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests
from ray._private.ray_constants import DASHBOARD_ADDRESS, KV_NAMESPACE_DASHBOARD
from ray.experimental.internal_kv import _internal_kv_get
from ray.job_submission import JobDetails, JobStatus, JobSubmissionClient

from aivo.adapters import AdapterStore, StudentDeleted, open_store
from aivo.adapters.layout import checked_student_id
from aivo.config import AppConfig
from aivo.error_tracking import init_error_tracking
from aivo.errors import AivoError, ModelUnavailable, NotFound, RateLimited, ServiceUnavailable
from aivo.observability import CLONE_JOBS, get_logger, log_event, pseudonym
from aivo.schemas import CloneJob, JobReport
from aivo.security.pseudonyms import key_pseudonyms
from aivo.service import ForgottenClones
from aivo.tenancy import split_owned_id
from aivo.training.dataset import parse_dataset
from aivo.training.dataset_store import DatasetStore, open_dataset_store
from aivo.training.results import CloneStatus, parse_clone_results
from aivo.training.settings import CloneJobConfig

REPOSITORY = Path(__file__).resolve().parents[1]
JOB_MARK = "aivo-clone"
JOB_ID = re.compile(rf"{JOB_MARK}-[0-9a-f]{{12}}")
RUNNING = {JobStatus.PENDING, JobStatus.RUNNING}
NO_AGENT = "No available agent to submit job"  # the job API's answer while its agent starts
SUBMIT_ATTEMPTS = 5
OUTCOME_POLL_S = 5.0  # how often a running job is asked whether it has ended, to count it
STOPPED = "stopped"

log = get_logger("aivo.clone")


class TooManyCloneJobs(RateLimited):
    code = "too_many_clone_jobs"


class CloneJobStillRunning(AivoError):
    """A deleted student's clone job did not stop in time; deleting again waits again."""

    status, code = 503, "clone_job_still_running"


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
        key_pseudonyms(config.security.pseudonym_key)
        self.config = config
        self.store = store if store is not None else open_store(config.storage)
        self.datasets = datasets if datasets is not None else open_dataset_store(config.storage)
        self.running: dict[str, str] = {}  # student id -> job id, while it runs
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
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

    def _lock(self, student_id: str) -> asyncio.Lock:
        lock = self._locks.get(student_id)
        if lock is None:
            lock = self._locks[student_id] = asyncio.Lock()
        return lock

    async def clone(self, student_id: str, dataset: bytes) -> CloneJob:
        student_id = checked_student_id(student_id)
        asked_at = time.time()
        async with self._lock(student_id):
            if await asyncio.to_thread(self.store.deleted_since, student_id, asked_at):
                raise StudentDeleted(
                    "the student was deleted while this request waited; send it again to clone "
                    "them anew"
                )
            return await self._clone(student_id, dataset)

    async def _clone(self, student_id: str, dataset: bytes) -> CloneJob:
        job_id = self.running.get(student_id)
        if job_id is not None and await self._running(job_id):
            return CloneJob(job_id=job_id, student_id=student_id, status="RUNNING")
        parse_dataset(dataset)  # a bad line answers 422 here, not minutes later in the job
        await self._within_job_limit()
        await self._expire_datasets()
        uri = await asyncio.to_thread(self.datasets.save, student_id, dataset)
        command = [
            sys.executable,  # this cluster's Python, whether or not it is on PATH
            "jobs/clone_student.py",  # names no student: the dataset's stored owner does
            "--dataset",
            uri,
            "--job-config",
            CloneJobConfig.of(self.config).model_dump_json(),
        ]
        job_id = f"{JOB_MARK}-{uuid.uuid4().hex[:12]}"
        await self._submit(
            entrypoint=shlex.join(command),
            submission_id=job_id,
            # no env_vars: a job record is readable through the job API, so no secret goes in
            runtime_env={
                "working_dir": str(REPOSITORY),
                "excludes": [".venv", ".git", "var", "bench/results", "**/__pycache__"],
            },
            metadata={
                "aivo": JOB_MARK,
                "tenant": split_owned_id(student_id)[0],
                "student": _student_tag(student_id),
            },
        )
        self.running[student_id] = job_id
        task = asyncio.create_task(self._count_outcome(job_id))
        self._counting.add(task)
        task.add_done_callback(self._counting.discard)
        return CloneJob(job_id=job_id, student_id=student_id, status="PENDING")

    async def job(self, job_id: str, tenant: str) -> JobReport:
        """The tenant's clone job; another tenant's answers as an unknown id, after the same
        lookup."""
        if not JOB_ID.fullmatch(job_id):  # other jobs on the cluster are not ours to show
            raise NotFound(f"no clone job {job_id}")
        info = await self._info(job_id)
        if (info.metadata or {}).get("tenant") != tenant:
            raise NotFound(f"no clone job {job_id}")
        status = info.status
        results = await self._results(job_id) if status.is_terminal() else None
        return JobReport(job_id=job_id, status=status.value, results=results)

    async def _results(self, job_id: str) -> list[dict[str, Any]]:
        logs = await asyncio.to_thread(self.client().get_job_logs, job_id)
        results = parse_clone_results(logs)
        named = {pseudonym(student): student for student in self.running}
        for result in results:  # the logs name pseudonyms; the caller named the student
            if result.get("student") in named:
                result["student_id"] = named[result.pop("student")]
        return results

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
        """Stops the student's clone jobs and waits (bounded) until they have ended, then
        removes their job records and the student's training data. The caller has left the
        student's tombstone first, so a job that publishes before it stops is undone."""
        student_id = checked_student_id(student_id)
        async with self._lock(student_id):
            jobs = await self._jobs_of(student_id)
            for job_id, status in jobs.items():
                if status in RUNNING:
                    await asyncio.to_thread(self.client().stop_job, job_id)
            await self._until_ended(jobs)
            for job_id in jobs:
                await asyncio.to_thread(self.client().delete_job, job_id)
            self.running.pop(student_id, None)
            datasets = await asyncio.to_thread(self.datasets.delete_student, student_id)
        return ForgottenClones(training_datasets=datasets, job_records=len(jobs))

    async def _jobs_of(self, student_id: str) -> dict[str, JobStatus]:
        """Every clone job of the student the cluster knows, whoever started it, by id."""
        tag = _student_tag(student_id)
        jobs = await asyncio.to_thread(self.client().list_jobs)
        return {
            job.submission_id: job.status
            for job in jobs
            if job.submission_id is not None
            and (job.metadata or {}).get("aivo") == JOB_MARK
            and (job.metadata or {}).get("student") == tag
        }

    async def _until_ended(self, job_ids: Iterable[str]) -> None:
        deadline = time.monotonic() + self.config.clone.stop_timeout_s
        for job_id in job_ids:
            while await self._running(job_id):
                if time.monotonic() > deadline:
                    raise CloneJobStillRunning(
                        f"clone job {job_id} has not stopped after "
                        f"{self.config.clone.stop_timeout_s:g} s",
                        retry_after_s=10,
                    )
                await asyncio.sleep(0.5)

    async def _within_job_limit(self) -> None:
        jobs = await asyncio.to_thread(self.client().list_jobs)
        running = [
            job
            for job in jobs
            if (job.metadata or {}).get("aivo") == JOB_MARK and job.status in RUNNING
        ]
        if len(running) >= self.config.clone.max_concurrent_jobs:
            raise TooManyCloneJobs(
                f"{len(running)} clone jobs are running, the most this deployment allows; "
                "retry later",
                retry_after_s=60,
            )

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
        return (await self._info(job_id)).status

    async def _info(self, job_id: str) -> JobDetails:
        try:
            return await asyncio.to_thread(self.client().get_job_info, job_id)
        except RuntimeError:  # the client's answer for an unknown id
            raise NotFound(f"no clone job {job_id}") from None

    async def _running(self, job_id: str) -> bool:
        try:
            return await self._status(job_id) in RUNNING
        except NotFound:  # its record was deleted: it is not running
            return False

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


def _student_tag(student_id: str) -> str:
    """How a job record names its student: a pseudonym, never the id."""
    return pseudonym(student_id) or ""
