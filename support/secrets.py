"""The service's secrets for tests and benchmarks: one random value per run, in the environment
before any cluster or server starts, so every process they start shares it."""

from __future__ import annotations

import os
import secrets

from aivo.config import CacheConfig, SecurityConfig


def development_secrets() -> None:
    """Set the pseudonym key and the cache MAC key, unless the environment has them."""
    for name in (SecurityConfig().pseudonym_key.env, CacheConfig().mac_key.env):
        os.environ.setdefault(name, secrets.token_urlsafe(32))
