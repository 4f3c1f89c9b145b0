"""The clone job: one `LoRACloner` Ray actor per student, in parallel, and its summary lines.

`jobs/clone_student.py` is the command line around `run_clone_job`: the CloneCoordinator hands
it the `CloneJobConfig` whole; by hand, `clone_job_config` reads one from a Serve config. The
CloneCoordinator reads each student's outcome back from the job's logs with
`aivo.training.results.parse_clone_results` (or from the adapter store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError

from aivo.adapters.layout import checked_student_id
from aivo.config import StorageConfig, TrainingConfig, load_serve_config
from aivo.errors import InvalidRequest
from aivo.observability import get_logger, log_event, pseudonym
from aivo.training.dataset_store import owner_uri
from aivo.training.results import CloneResult, CloneStatus, CloneTask
from aivo.training.settings import CloneJobConfig
from aivo.training.sources import read_dataset

log = get_logger("aivo.training")


def clone_job_config(
    serve_config: str | Path,
    *,
    adapter_root: str | None = None,
    s3_endpoint_url: str | None = None,
    training: Mapping[str, Any] | None = None,
) -> CloneJobConfig:
    """The job's part of a Serve config's args, with the command line's overrides applied."""
    app = load_serve_config(serve_config)
    storage_overrides = {
        key: value
        for key, value in {"adapter_root": adapter_root, "s3_endpoint_url": s3_endpoint_url}.items()
        if value is not None
    }
    storage = StorageConfig(**{**app.storage.model_dump(), **storage_overrides})
    training_config = TrainingConfig(**{**app.training.model_dump(), **(training or {})})
    return CloneJobConfig(
        engine=app.engine,
        storage=storage,
        training=training_config,
        pseudonym_key=app.security.pseudonym_key,
    )


def clone_requests(student_ids: Sequence[str], datasets: Sequence[str]) -> list[CloneTask]:
    """One request per student, checked before any actor starts."""
    if len(student_ids) != len(datasets) or not student_ids:
        raise InvalidRequest("give one --dataset for each --student-id, in the same order")
    if len(set(student_ids)) != len(student_ids):
        raise InvalidRequest("a student appears twice in one clone job")
    return [CloneTask(checked_student_id(s), d) for s, d in zip(student_ids, datasets, strict=True)]


def stored_owner(dataset_uri: str, storage: StorageConfig) -> str:
    """The student a dataset stored by the service belongs to (kept beside it, not in the
    job's entrypoint)."""
    return read_dataset(owner_uri(dataset_uri), storage).decode("utf-8")


def run_clone_job(config: CloneJobConfig, requests: Sequence[CloneTask]) -> list[dict[str, Any]]:
    """Clone every student in parallel on the connected Ray cluster; summaries in request order."""
    threads = config.training.cpus_per_student
    resources: dict[str, float] = {"num_cpus": threads}
    if config.engine.device in ("auto", "cuda") and ray.cluster_resources().get("GPU", 0) >= 1:
        resources["num_gpus"] = 1
    from aivo.training.cloner import LoRACloner  # the driver never trains: torch loads in actors

    cloner: Any = ray.remote(LoRACloner).options(**resources)  # Ray's stubs miss actor options
    actors = [cloner.remote(config, torch_threads=threads) for _ in requests]
    pending = {
        actor.run.remote(request): i
        for i, (actor, request) in enumerate(zip(actors, requests, strict=True))
    }
    summaries: list[dict[str, Any]] = [{} for _ in requests]
    while pending:
        (done,), _ = ray.wait(list(pending), num_returns=1)
        i = pending.pop(done)
        try:
            summaries[i] = ray.get(done)
        except RayError as error:  # the actor died (out of memory, node lost): report one line
            message = f"the cloner actor failed: {type(error).__name__}"
            summaries[i] = CloneResult(
                requests[i].student_id, CloneStatus.failed, reason=message, error_code="cloner_died"
            ).summary()
        ray.kill(actors[i])  # frees its CPUs or GPU for a student still waiting
        log_event(
            log,
            "clone finished",
            student=pseudonym(requests[i].student_id),
            status=summaries[i]["status"],
        )
    return summaries


def failed(summaries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [s for s in summaries if s["status"] == CloneStatus.failed.value]
