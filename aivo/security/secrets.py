"""Secrets the service signs with (pseudonyms, cached answers): from the environment, or in
development from a file created on first use."""

from __future__ import annotations

import fcntl
import os
import secrets

from aivo.config import ConfigError, SecretSource
from aivo.observability import get_logger

MIN_SECRET_CHARS = 32

log = get_logger("aivo.secrets")


def load_secret(source: SecretSource) -> bytes:
    """The secret's bytes; ConfigError when it is neither in the environment nor in a file."""
    value = os.environ.get(source.env)
    if value is None and source.file is not None:
        value = _development_secret(source)
    if value is None:
        raise ConfigError(
            f"set ${source.env} to a secret of {MIN_SECRET_CHARS}+ characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(value.strip()) < MIN_SECRET_CHARS:
        raise ConfigError(f"${source.env} is shorter than {MIN_SECRET_CHARS} characters")
    return value.strip().encode()


def _development_secret(source: SecretSource) -> str:
    """One secret per file, shared by every process on this machine (never across nodes)."""
    path = source.file
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
        value = path.read_text(encoding="utf-8")
    log.warning(
        "development secret in %s: set $%s on any deployment beyond one machine",
        path,
        source.env,
    )
    return value
