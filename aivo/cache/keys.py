"""Cache keys: a hash of everything that changes the answer, with nothing readable in clear.

Every key starts with its tenant's prefix: answers are never shared across tenants (a hit, or
its latency, would tell one tenant what another's students asked)."""

from __future__ import annotations

import hashlib
import json

from aivo.config import CacheConfig
from aivo.schemas import GenerateRequest
from aivo.security.pseudonyms import keyed_pseudonym
from aivo.tenancy import owned_id, split_owned_id

KEY_PREFIX = "aivo:answer:v2:"
# The request fields that change the answer; `stream` only changes how it is delivered.
_ANSWER_FIELDS = {
    "grade_level",
    "subject",
    "learning_style",
    "accommodations",
    "max_tokens",
    "temperature",
    "mode",
    "student_answer",
    "history",
    "top_p",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
}
# Greedy answers ignore these: leaving them out lets every greedy request share its answer.
_SAMPLING_ONLY = ("top_p", "seed")


def student_tag(student_id: str) -> str:
    """A stable keyed pseudonym of a student, so deletion finds their keys without the id in
    clear (and nobody who reads Redis can test guessed ids against them)."""
    return keyed_pseudonym(student_id, "aivo-cache", 32)


def tenant_prefix(tenant: str) -> str:
    """The prefix every cached answer of this tenant starts with."""
    tag = hashlib.sha256(f"aivo-cache-tenant:{tenant}".encode()).hexdigest()[:16]
    return f"{KEY_PREFIX}{tag}:"


def student_prefix(owned: str) -> str:
    """The prefix every cached answer of this student (its owned id, `aivo.tenancy`) starts
    with."""
    tenant, _ = split_owned_id(owned)
    return f"{tenant_prefix(tenant)}student:{student_tag(owned)}:"


def cache_key(
    request: GenerateRequest,
    *,
    tenant: str,
    model: str,
    prompt_version: str,
    adapter: str | None,
) -> str:
    """The key of the answer to `request` for the tenant; personalised requests are scoped by
    student.

    `adapter` tags the student's live adapter (version and weights digest; None: no adapter), so
    an answer of another adapter is never found once a new one is live, nor after a student was
    deleted and created again.
    """
    fields = request.model_dump(mode="json", include=_ANSWER_FIELDS)
    if request.temperature == 0:
        for name in _SAMPLING_ONLY:
            del fields[name]
    fields.update(
        prompt=" ".join(request.prompt.split()),
        model=model,
        prompt_version=prompt_version,
        adapter=adapter,
    )
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    if request.student_id is None:
        return f"{tenant_prefix(tenant)}anon:{digest}"
    return f"{student_prefix(owned_id(tenant, request.student_id))}{digest}"


def is_cacheable(request: GenerateRequest, config: CacheConfig) -> bool:
    """Deterministic requests only, unless the config also caches sampled answers."""
    return request.temperature == 0 or config.cache_sampled
