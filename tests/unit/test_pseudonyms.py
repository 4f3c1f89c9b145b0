"""Keyed pseudonyms: nothing that leaves a request names a student, and guessing ids finds nothing
without the key; secrets come from the environment or, in development, a 0600 file."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from aivo.adapters.errors import StudentDeleted
from aivo.cache.keys import student_tag
from aivo.config import ConfigError, SecretSource, StorageConfig
from aivo.observability import pseudonym
from aivo.security import pseudonyms
from aivo.security.secrets import load_secret
from aivo.training.dataset_store import LocalDatasetStore
from aivo.training.job import stored_owner
from aivo.training.results import CloneResult, CloneStatus, summary_line

KEY_ENV = "AIVO_TEST_PSEUDONYM_KEY"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pseudonyms keyed for this test alone; the suite's key again after."""
    monkeypatch.setenv(KEY_ENV, "k" * 40)
    pseudonyms.key_pseudonyms(SecretSource(env=KEY_ENV))
    yield
    monkeypatch.delenv(KEY_ENV)
    pseudonyms._key = None  # the next use keys itself from the suite's environment


def test_guessing_ids_without_the_key_finds_nothing(
    keyed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = pseudonym("s-4711")
    assert target is not None and len(target) == 16
    # the old, unkeyed scheme: every guess's hash would have matched one of these
    for prefix in ("aivo-log:", "aivo-log", ""):
        guesses = {
            hashlib.sha256(f"{prefix}s-{n}".encode()).hexdigest()[:16] for n in range(10_000)
        }
        assert target not in guesses
    assert pseudonym("s-4711") == target  # stable: logs of one student line up
    monkeypatch.setenv(KEY_ENV, "another-secret-of-at-least-32-characters")
    pseudonyms.key_pseudonyms(SecretSource(env=KEY_ENV))
    assert pseudonym("s-4711") != target
    assert student_tag("s-4711") not in (target, pseudonym("s-4711"))  # one namespace per use


def test_a_secret_comes_from_the_environment_or_a_development_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = SecretSource(env=KEY_ENV, file=tmp_path / "var" / "pseudonym-key")
    monkeypatch.delenv(KEY_ENV, raising=False)
    created = load_secret(source)
    assert source.file is not None and stat.S_IMODE(source.file.stat().st_mode) == 0o600
    assert load_secret(source) == created and len(created) >= 32  # every process shares it
    monkeypatch.setenv(KEY_ENV, "e" * 32)
    assert load_secret(source) == b"e" * 32  # the environment wins
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ConfigError, match="shorter than 32"):
        load_secret(source)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=f"set \\${KEY_ENV}"):
        load_secret(SecretSource(env=KEY_ENV))


def test_a_stored_dataset_and_a_clone_summary_name_no_student(tmp_path: Path) -> None:
    storage = StorageConfig(dataset_root=str(tmp_path / "datasets"))
    store = LocalDatasetStore(Path(storage.dataset_root))
    uri = store.save("maya-lopez-2014", b'{"prompt": "hi", "response": "hello"}\n')
    assert "maya" not in uri and stored_owner(uri, storage) == "maya-lopez-2014"
    line = summary_line(CloneResult("maya-lopez-2014", CloneStatus.published, version=1).summary())
    assert "maya" not in line and f'"student":"{pseudonym("maya-lopez-2014")}"' in line
    deleted = StudentDeleted("student school-a.maya-lopez-2014 was deleted; not published")
    line = summary_line(CloneResult.failure("school-a.maya-lopez-2014", deleted).summary())
    assert "maya" not in line
    assert json.loads(line)["reason"].startswith(f"student {pseudonym('school-a.maya-lopez-2014')}")
    assert store.delete_student("maya-lopez-2014") == 1
    assert not any(Path(storage.dataset_root).rglob("*.*"))
