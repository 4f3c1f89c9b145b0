"""API keys: tenants and split scopes in the entries, how they load, and the development key."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aivo.config import ConfigError, SecurityConfig
from aivo.errors import Forbidden, Unauthorized
from aivo.security.keys import SCOPES, KeyEntry, KeyRing, is_loopback, load_keyring, new_key

ENV = "AIVO_TEST_API_KEYS"


def entries_json(*entries: object) -> str:
    return json.dumps([e.model_dump(mode="json") for e in entries])  # type: ignore[attr-defined]


def test_a_key_authenticates_as_its_tenant_with_its_scopes() -> None:
    token, entry = new_key("app", "school-a", ["generate", "students:read"])
    principal = KeyRing([entry]).authenticate(f"Bearer {token}")
    assert (principal.key_id, principal.tenant) == ("app", "school-a")
    assert principal.scopes == {"generate", "students:read"}
    KeyRing.authorize(principal, "generate")
    with pytest.raises(Forbidden, match="students:delete"):
        KeyRing.authorize(principal, "students:delete")
    with pytest.raises(Unauthorized):
        KeyRing([entry]).authenticate(f"Bearer {token[:-2]}xx")


def test_keys_load_from_the_environment_and_the_file_with_their_tenants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env, env_entry = new_key("env-app", "district-9", ["generate"])
    from_file, file_entry = new_key("file-app", "school-a", ["metrics:read"])
    monkeypatch.setenv(ENV, entries_json(env_entry))
    (tmp_path / "keys.json").write_text(entries_json(file_entry))
    config = SecurityConfig(api_keys_env=ENV, api_keys_file=tmp_path / "keys.json")
    ring = load_keyring(config, "0.0.0.0")
    assert ring.authenticate(f"Bearer {from_env}").tenant == "district-9"
    assert ring.authenticate(f"Bearer {from_file}").tenant == "school-a"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"tenant": None}, "tenant"),
        ({"tenant": "School A"}, "tenant"),
        ({"tenant": "a.b"}, "tenant"),  # a dot would make owned ids ambiguous
        ({"scopes": ["admin"]}, "scopes"),  # split into the scopes above; no alias remains
    ],
)
def test_an_entry_without_a_valid_tenant_or_scope_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, object], named: str
) -> None:
    _, entry = new_key("app", "school-a", ["generate"])
    fields = {k: v for k, v in {**entry.model_dump(mode="json"), **change}.items() if v}
    monkeypatch.setenv(ENV, json.dumps([fields]))
    with pytest.raises(ConfigError, match=named):
        load_keyring(SecurityConfig(api_keys_env=ENV), "127.0.0.1")


def test_a_key_id_configured_twice_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = new_key("app", "school-a", ["generate"])
    _, second = new_key("app", "school-b", SCOPES)
    monkeypatch.setenv(ENV, entries_json(first))
    (tmp_path / "keys.json").write_text(entries_json(second))
    config = SecurityConfig(api_keys_env=ENV, api_keys_file=tmp_path / "keys.json")
    with pytest.raises(ConfigError, match="'app' is configured more than once"):
        load_keyring(config, "127.0.0.1")


def test_the_development_key_is_made_on_loopback_kept_private_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = SecurityConfig(api_keys_env=ENV, dev_key_file=tmp_path / "var" / "dev-key")
    with caplog.at_level(logging.INFO):
        ring = load_keyring(config, "127.0.0.1")
        again = load_keyring(config, "::1")  # every replica on the machine shares the file
    token = (tmp_path / "var" / "dev-key").read_text().strip()
    assert stat.S_IMODE((tmp_path / "var" / "dev-key").stat().st_mode) == 0o600
    principal = ring.authenticate(f"Bearer {token}")
    assert principal.tenant == "dev" and principal.scopes == set(SCOPES)
    assert again.authenticate(f"Bearer {token}").key_id == "dev"
    secret = token.removeprefix("aivo_dev_")  # the secret itself may hold underscores
    logged = [r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records]
    assert any(str(config.dev_key_file) in line for line in logged)
    assert not any(secret in line for line in logged)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "aivo.example.org", ""])
def test_no_development_key_off_loopback(tmp_path: Path, host: str) -> None:
    config = SecurityConfig(api_keys_env=ENV, dev_key_file=tmp_path / "dev-key")
    with pytest.raises(ConfigError, match="loopback"):
        load_keyring(config, host)
    assert not (tmp_path / "dev-key").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.2", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_command_makes_a_key_for_a_tenant() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aivo.security.keys",
            "new",
            "--id",
            "app",
            "--tenant",
            "school-a",
            "--scope",
            "generate",
            "--scope",
            "cache:admin",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = done.stdout.split("not stored): ")[1].split()[0]
    entry = json.loads(done.stdout.split("$AIVO_API_KEYS): ")[1])
    assert (entry["tenant"], entry["scopes"]) == ("school-a", ["generate", "cache:admin"])
    ring = KeyRing([KeyEntry(**entry)])
    assert ring.authenticate(f"Bearer {token}").tenant == "school-a"
