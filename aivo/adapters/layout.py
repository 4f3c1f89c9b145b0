"""Where a student's adapter lives under a store root, and which file names may appear there.

Every path or key is built from a validated student id and a version number, never from
other input: `{root}/students/{student_id}/manifest.json` and
`{root}/students/{student_id}/v{N}/{file}`. The service stores each student under its owned id,
`{tenant}.{student_id}` (`aivo.tenancy`); the store itself takes any student id, owned or not.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from aivo.errors import InvalidRequest
from aivo.observability import pseudonym
from aivo.schemas import STUDENT_ID_PATTERN
from aivo.tenancy import TENANT_PATTERN

STUDENTS = "students"
TOMBSTONES = "tombstones"
MANIFEST = "manifest.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
METADATA = "metadata.json"
REQUIRED_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS)
ADAPTER_FILES = frozenset({*REQUIRED_FILES, METADATA})
CHUNK_SIZE = 1 << 20

STORED_ID_PATTERN = rf"^(?:{TENANT_PATTERN[1:-1]}\.)?{STUDENT_ID_PATTERN[1:-1]}$"
_STUDENT_ID = re.compile(STORED_ID_PATTERN)


def is_student_id(name: object) -> TypeGuard[str]:
    # fullmatch: `$` alone would let a trailing newline through
    return isinstance(name, str) and _STUDENT_ID.fullmatch(name) is not None


def checked_student_id(student_id: object) -> str:
    if not is_student_id(student_id):
        raise InvalidRequest(f"student_id must match {STUDENT_ID_PATTERN}")
    return student_id


def checked_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidRequest("an adapter version is an integer from 1")
    return version


def student_path(student_id: str) -> str:
    return f"{STUDENTS}/{checked_student_id(student_id)}"


def version_path(student_id: str, version: int) -> str:
    return f"{student_path(student_id)}/v{checked_version(version)}"


def tombstone_path(student_id: str) -> str:
    """Where a deleted student's tombstone lives: named by pseudonym, so it keeps no id in clear."""
    return f"{TOMBSTONES}/{pseudonym(checked_student_id(student_id))}.json"
