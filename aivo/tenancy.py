"""Tenants: the school, district or app that an API key belongs to, and whose students it reaches.

A key names students by their id alone. Behind the API a student is known as `{tenant}.{id}`
(its owned id) in the adapter store, the training data, clone jobs and cache keys, so the store
records durably which tenant created each student, and every replica agrees. Another tenant's
student is, to a key, an id that does not exist: the same lookup, the same answer, the same cost.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from aivo.schemas import STUDENT_ID_PATTERN

# No dot in a tenant or a student id, so an owned id splits one way only.
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"

_STUDENT_ID = re.compile(STUDENT_ID_PATTERN)


def is_student_id(name: object) -> TypeGuard[str]:
    """A student id as the API takes it (without its tenant)."""
    # fullmatch: `$` alone would let a trailing newline through
    return isinstance(name, str) and _STUDENT_ID.fullmatch(name) is not None


def owned_id(tenant: str, student_id: str) -> str:
    """The id under which stores, caches and jobs know this tenant's student."""
    return f"{tenant_prefix(tenant)}{student_id}"


def tenant_prefix(tenant: str) -> str:
    """What every owned id of the tenant starts with."""
    return f"{tenant}."


def split_owned_id(owned: str) -> tuple[str, str]:
    """The tenant and the student id of an owned id; an id of no tenant (stored before tenants,
    or named by hand) has the tenant ""."""
    tenant, dot, student_id = owned.partition(".")
    return (tenant, student_id) if dot else ("", owned)
