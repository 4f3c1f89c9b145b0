"""Deleting a student: every trace, in an order that a racing clone or answer cannot undo.

1. The tombstone, in the adapter store: from then on a publish asked for earlier refuses (or
   undoes itself), a clone request that waited on the deletion is refused, and an answer that
   was being generated is not kept in the cache.
2. Clone jobs: stopped, waited for (bounded), their records and the training data removed.
3. Adapters: every version, every S3 object version.
4. Cached answers.

Adapters resident in inference replicas are dropped by each replica's own check of its resident
students against the store (`InferenceReplica`), within seconds. A step that fails does not
stop the others; the caller gets 503 naming what is left, and a retry (every step can run
again) finishes the deletion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aivo.adapters import AdapterStore
from aivo.cache import ResponseCache
from aivo.errors import AivoError
from aivo.schemas import StudentDeletion
from aivo.service.protocols import CloneJobs

RETRY_AFTER_S = 10


class DeletionIncomplete(AivoError):
    """Part of a student's data could not be removed yet; deleting again finishes the job."""

    status, code = 503, "deletion_incomplete"


async def erase_student(
    student_id: str, *, adapters: AdapterStore, clones: CloneJobs, cache: ResponseCache
) -> StudentDeletion:
    """Remove every trace of the student; what was removed, by kind, with counts."""
    try:
        await asyncio.to_thread(adapters.mark_deleted, student_id)
    except AivoError as error:
        raise DeletionIncomplete(
            f"nothing was removed: the tombstone could not be written ({error.message}); retry",
            retry_after_s=RETRY_AFTER_S,
        ) from error

    async def clone_jobs() -> dict[str, int]:
        forgotten = await clones.forget(student_id)
        return {
            "job_records": forgotten.job_records,
            "training_datasets": forgotten.training_datasets,
        }

    async def adapter_files() -> dict[str, int]:
        return {"adapter_files": await asyncio.to_thread(adapters.delete_student, student_id)}

    async def cached_answers() -> dict[str, int]:
        return {"cached_answers": await cache.invalidate_student(student_id)}

    steps: dict[str, Callable[[], Awaitable[dict[str, int]]]] = {
        "clone jobs and training data": clone_jobs,  # first: a running job must stop publishing
        "adapters": adapter_files,
        "cached answers": cached_answers,
    }
    removed: dict[str, int] = {}
    left: list[str] = []
    for name, step in steps.items():
        try:
            removed |= await step()
        except Exception as error:  # any failure of a step leaves it to the retry
            reason = error.message if isinstance(error, AivoError) else type(error).__name__
            left.append(f"{name} ({reason})")
    if left:
        done = ", ".join(f"{kind} {count}" for kind, count in removed.items()) or "nothing"
        raise DeletionIncomplete(
            f"still to remove: {'; '.join(left)}. Removed so far: {done}. "
            "Send the DELETE again to finish.",
            retry_after_s=RETRY_AFTER_S,
        )
    return StudentDeletion(student_id=student_id, removed=removed)
