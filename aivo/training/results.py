"""What a clone job is asked and what it answers: tasks, results and their summary lines."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from aivo.errors import AivoError
from aivo.observability import pseudonym

SUMMARY_EVENT = "clone_result"  # marks the job's summary lines among other log lines


class CloneStatus(StrEnum):
    published = "published"
    not_published = "not_published"
    failed = "failed"


@dataclass(frozen=True)
class CloneTask:
    """One student's clone in a job (the HTTP body that asks for it is `schemas.CloneRequest`)."""

    student_id: str
    dataset_uri: str
    # when the clone was asked for (the job's start): a student deleted since is not published
    requested_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class CloneResult:
    student_id: str
    status: CloneStatus
    version: int | None = None
    reason: str | None = None  # why it was not published, or why it failed
    error_code: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    durations_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The job's JSON summary line for this student, who is named by pseudonym: job logs
        are kept by Ray and shown by its job API. A reason that names the student (an error's
        message: "student ... was deleted") names the pseudonym instead."""
        fields = asdict(self)
        student = pseudonym(fields.pop("student_id"))
        if fields["reason"] is not None:
            fields["reason"] = fields["reason"].replace(self.student_id, student)
        return {"event": SUMMARY_EVENT, "student": student, **fields, "status": self.status.value}

    @classmethod
    def failure(cls, student_id: str, error: AivoError) -> CloneResult:
        return cls(student_id, CloneStatus.failed, reason=error.message, error_code=error.code)


def summary_line(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True, separators=(",", ":"))


def parse_clone_results(logs: str) -> list[dict[str, Any]]:
    """The summary lines of a clone job's logs, one dict per student, in the order printed."""
    results = []
    for line in logs.splitlines():
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("event") == SUMMARY_EVENT:
            results.append(value)
    return results
