"""API keys: `aivo_<key id>_<secret>`, configured only as salted hashes with a tenant and scopes.

Keys come from an environment variable or a secrets file (JSON list of entries), never from the
Serve YAML. Verification finds the entry by key id and compares HMAC-SHA256 digests in constant
time. Create a key with
`python -m aivo.security.keys new --id APP --tenant SCHOOL --scope generate`.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aivo.config import ConfigError, SecurityConfig
from aivo.errors import Forbidden, Unauthorized, field_problem
from aivo.observability import get_logger, log_event
from aivo.tenancy import TENANT_PATTERN

# What a key may do, each within its own tenant: answer; read students, their adapters and clone
# jobs; clone and roll back; delete; drop cached answers; read /metrics.
Scope = Literal[
    "generate",
    "students:read",
    "students:write",
    "students:delete",
    "cache:admin",
    "metrics:read",
]
SCOPES: tuple[Scope, ...] = get_args(Scope)
DEV_TENANT = "dev"
_TOKEN = re.compile(r"^aivo_([a-z0-9-]{1,32})_([A-Za-z0-9_-]{32,128})$")
log = get_logger("aivo.security")


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9-]{1,32}$", description="Public key id (in the token).")
    tenant: str = Field(
        pattern=TENANT_PATTERN, description="The school, district or app the key belongs to."
    )
    salt: str = Field(pattern=r"^[0-9a-f]{32,}$", description="Hex salt.")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256(salt, secret), hex.")
    scopes: tuple[Scope, ...] = Field(min_length=1, description="What the key may do.")


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def new_key(key_id: str, tenant: str, scopes: Iterable[Scope]) -> tuple[str, KeyEntry]:
    """A fresh token (shown once) and the entry that verifies it (what gets configured)."""
    return _entry_for(f"aivo_{key_id}_{secrets.token_urlsafe(32)}", tenant, tuple(scopes))


def _entry_for(token: str, tenant: str, scopes: tuple[Scope, ...]) -> tuple[str, KeyEntry]:
    key_id, secret = _TOKEN.match(token).groups()  # type: ignore[union-attr]
    salt = secrets.token_hex(16)
    entry = KeyEntry(id=key_id, tenant=tenant, salt=salt, hash=_digest(salt, secret), scopes=scopes)
    return token, entry


@dataclass(frozen=True)
class Principal:
    key_id: str
    tenant: str
    scopes: frozenset[str]


class KeyRing:
    def __init__(self, entries: Iterable[KeyEntry]) -> None:
        self._entries: dict[str, KeyEntry] = {}
        for entry in entries:
            if entry.id in self._entries:  # one would silently shadow the other
                raise ConfigError(f"API key id {entry.id!r} is configured more than once")
            self._entries[entry.id] = entry
        # Unknown ids are compared against this, so a miss costs the same as a wrong secret.
        self._decoy = KeyEntry(
            id="decoy", tenant="decoy", salt="0" * 32, hash="0" * 64, scopes=("generate",)
        )

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("an API key is required: Authorization: Bearer <key>")
        scheme, _, token = authorization.partition(" ")
        match = _TOKEN.match(token.strip()) if scheme.lower() == "bearer" else None
        key_id, secret = match.groups() if match else ("", "")
        entry = self._entries.get(key_id, self._decoy)
        if not hmac.compare_digest(_digest(entry.salt, secret), entry.hash) or entry is self._decoy:
            raise Unauthorized("the API key is not valid")
        return Principal(entry.id, entry.tenant, frozenset(entry.scopes))

    @staticmethod
    def authorize(principal: Principal, scope: Scope) -> None:
        if scope not in principal.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")


_ENTRIES = TypeAdapter(list[KeyEntry])


def _parse(text: str, origin: str) -> list[KeyEntry]:
    try:
        return _ENTRIES.validate_json(text)
    except ValidationError as error:
        problem = field_problem(error.errors()[0])
        raise ConfigError(f"{origin}: invalid API key entry at {problem}") from None


def load_keyring(config: SecurityConfig, host: str) -> KeyRing:
    """The configured keys. With none, and `dev_key_file` set, a development key with every scope
    (tenant `dev`), kept in that file: only for a service bound to loopback (`host`, where Serve
    listens), and never printed, so it does not end up in logs."""
    entries: list[KeyEntry] = []
    if raw := os.environ.get(config.api_keys_env):
        entries += _parse(raw, f"${config.api_keys_env}")
    if config.api_keys_file is not None:
        entries += _parse(
            config.api_keys_file.read_text(encoding="utf-8"), str(config.api_keys_file)
        )
    if entries or config.dev_key_file is None:
        return KeyRing(entries)
    if not is_loopback(host):
        raise ConfigError(
            f"no API keys are configured and Serve listens on {host!r}: a development key is "
            "made only for loopback; configure keys (python -m aivo.security.keys new)"
        )
    _, entry = _entry_for(_dev_token(config.dev_key_file), DEV_TENANT, SCOPES)
    log_event(log, "development API key", file=str(config.dev_key_file))
    return KeyRing([entry])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name or "": not provably loopback
        return False


def _dev_token(path: Path) -> str:
    """One development key per file (readable by its owner only), shared by every replica on
    this machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            token, _ = new_key("dev", DEV_TENANT, SCOPES)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
        return path.read_text(encoding="utf-8").strip()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m aivo.security.keys")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="create a key: prints the token once and its entry")
    new.add_argument("--id", required=True)
    new.add_argument("--tenant", required=True, help="the school, district or app it serves")
    new.add_argument("--scope", action="append", choices=SCOPES, required=True)
    args = parser.parse_args()
    token, entry = new_key(args.id, args.tenant, args.scope)
    print(f"key (give it to the app, it is not stored): {token}")
    print(f"entry (add it to the keys file or $AIVO_API_KEYS): {entry.model_dump_json()}")


if __name__ == "__main__":
    main()
