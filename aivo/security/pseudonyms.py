"""Keyed pseudonyms of student ids: HMAC-SHA256 under the deployment's secret.

A pseudonym stands for a student id wherever the id would leave a request (logs, metric labels,
Serve's routing id, clone jobs, cache keys). Unkeyed hashes were reversed by hashing guessed ids;
without the key a pseudonym tells nothing. Every process keys itself at start-up with
`key_pseudonyms`; one that did not uses the default environment variable.
"""

from __future__ import annotations

import hashlib
import hmac

from aivo.config import SecretSource, SecurityConfig

_key: bytes | None = None


def key_pseudonyms(source: SecretSource) -> None:
    """Key this process's pseudonyms: each deployment, the clone job and its actors call it."""
    from aivo.security.secrets import load_secret  # it logs, and the logger uses pseudonyms

    global _key
    _key = load_secret(source)


def keyed_pseudonym(student_id: str, purpose: str, chars: int) -> str:
    """`chars` hex digits of HMAC-SHA256(key, purpose:student_id): one namespace per purpose."""
    if _key is None:
        key_pseudonyms(SecurityConfig().pseudonym_key)
    assert _key is not None
    digest = hmac.new(_key, f"{purpose}:{student_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:chars]
