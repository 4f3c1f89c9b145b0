"""Cheap checks of the adapter store's parsing: roots, student ids, keys, manifests, errors."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aivo.adapters import (
    AdapterConflict,
    AdapterCorrupt,
    AdapterNotFound,
    FileDigest,
    LocalAdapterStore,
    Manifest,
    S3AdapterStore,
    VersionRecord,
    open_store,
)
from aivo.adapters.layout import checked_student_id, version_path
from aivo.adapters.local_store import local_root
from aivo.config import ConfigError, StorageConfig
from aivo.errors import InvalidRequest
from aivo.infra.s3 import S3Location

DIGEST = FileDigest(sha256="0" * 64, size=3)
FILES = {"adapter_config.json": DIGEST, "adapter_model.safetensors": DIGEST}


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://adapters", "adapters", ""),
        ("s3://adapters/", "adapters", ""),
        ("s3://adapters/prod", "adapters", "prod"),
        ("s3://my.bucket-1/a/b/", "my.bucket-1", "a/b"),
        ("s3://adapters//a//b", "adapters", "a/b"),
    ],
)
def test_s3_uri_is_parsed(uri: str, bucket: str, prefix: str) -> None:
    assert S3Location.parse(uri) == S3Location(bucket, prefix)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3:///prefix",
        "s3://Upper/p",
        "s3://ab",
        "s3://user@bucket/p",
        "s3://bucket:9000/p",
        "s3://bucket/p?versionId=1",
        "s3://bucket/../other",
        "s3://bucket/a/./b",
        "gs://bucket/p",
    ],
)
def test_bad_s3_uri_is_refused(uri: str) -> None:
    with pytest.raises(ConfigError):
        S3Location.parse(uri)


@pytest.mark.parametrize(
    ("prefix", "path", "key"),
    [("", "students/s1/manifest.json", "students/s1/manifest.json"), ("a/b", "x", "a/b/x")],
)
def test_s3_keys_join_the_prefix(prefix: str, path: str, key: str) -> None:
    assert S3Location("bucket", prefix).key(path) == key


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("var/adapters", Path("var/adapters")),
        ("/srv/adapters", Path("/srv/adapters")),
        ("file:///srv/adapters", Path("/srv/adapters")),
        ("file://localhost/srv/my%20adapters", Path("/srv/my adapters")),
        ("~/adapters", Path.home() / "adapters"),
    ],
)
def test_local_root_is_parsed(uri: str, path: Path) -> None:
    assert local_root(uri) == path


@pytest.mark.parametrize("uri", ["", "  ", "file://server/share", "file://"])
def test_bad_local_root_is_refused(uri: str) -> None:
    with pytest.raises(ConfigError):
        local_root(uri)


@pytest.mark.parametrize(
    ("root", "backend"),
    [
        ("var/adapters", LocalAdapterStore),
        ("file:///tmp/adapters", LocalAdapterStore),
        ("s3://adapters/prod", S3AdapterStore),
    ],
)
def test_open_store_chooses_the_backend_by_scheme(root: str, backend: type) -> None:
    assert isinstance(open_store(StorageConfig(adapter_root=root, s3_region="us-east-1")), backend)


@pytest.mark.parametrize("root", ["gs://bucket/p", "http://example.com/adapters"])
def test_open_store_refuses_unknown_schemes(root: str) -> None:
    with pytest.raises(ConfigError, match="unsupported scheme"):
        open_store(StorageConfig(adapter_root=root))


@pytest.mark.parametrize("student_id", ["s1", "S", "a" * 64, "stu-1_x", "0"])
def test_valid_student_ids_pass(student_id: str) -> None:
    assert checked_student_id(student_id) == student_id


@pytest.mark.parametrize(
    "student_id", ["", "..", "a/b", "a\\b", "-a", "a\n", "a" * 65, "é", None, 7]
)
def test_invalid_student_ids_are_refused(student_id: object) -> None:
    with pytest.raises(InvalidRequest):
        checked_student_id(student_id)


@pytest.mark.parametrize("version", [0, -1, True, "1", 1.0])
def test_version_paths_need_a_positive_integer(version: object) -> None:
    with pytest.raises(InvalidRequest):
        version_path("s1", version)  # type: ignore[arg-type]


def test_version_path() -> None:
    assert version_path("s1", 12) == "students/s1/v12"


def record(version: int, files: dict[str, FileDigest] = FILES) -> VersionRecord:
    return VersionRecord(version=version, published_at=datetime.now(UTC), files=files)


def test_manifest_round_trips_and_switches() -> None:
    manifest = Manifest.first("s1", record(1)).with_published(record(3))
    assert (manifest.live_version, manifest.version_numbers, manifest.latest) == (3, [1, 3], 3)
    assert Manifest.from_bytes(manifest.to_bytes(), "s1") == manifest
    rolled_back = manifest.with_live(1)
    assert rolled_back.live.version == 1 and rolled_back.version_numbers == [1, 3]
    assert manifest.record(2) is None


@pytest.mark.parametrize(
    "change",
    [
        {"live_version": 5},
        {"versions": []},
        {"student_id": "../s1"},
        {"format_version": 2},
    ],
)
def test_inconsistent_manifest_is_corrupt(change: dict[str, object]) -> None:
    document = Manifest.first("s1", record(1)).model_dump(mode="json") | change
    with pytest.raises(AdapterCorrupt) as caught:
        Manifest.from_bytes(json.dumps(document).encode(), "s1")
    assert caught.value.file_name == "manifest.json"


def test_manifest_refuses_versions_out_of_order() -> None:
    with pytest.raises(ValueError, match="increasing"):
        Manifest(student_id="s1", live_version=1, versions=(record(2), record(1)))


@pytest.mark.parametrize(
    "files",
    [
        {**FILES, "../../etc/passwd": DIGEST},
        {**FILES, "README.md": DIGEST},
        {"adapter_config.json": DIGEST},
    ],
)
def test_manifest_names_only_adapter_files(files: dict[str, FileDigest]) -> None:
    with pytest.raises(ValueError, match="files"):
        record(1, files)


def test_manifest_of_another_student_is_corrupt() -> None:
    data = Manifest.first("s2", record(1)).to_bytes()
    with pytest.raises(AdapterCorrupt):
        Manifest.from_bytes(data, "s1")


def test_errors_keep_their_details_across_processes() -> None:
    corrupt = pickle.loads(pickle.dumps(AdapterCorrupt("adapter_model.safetensors", "bad")))
    assert (corrupt.file_name, corrupt.message, corrupt.status) == (
        "adapter_model.safetensors",
        "bad",
        503,
    )
    conflict = pickle.loads(pickle.dumps(AdapterConflict("busy", retry_after_s=1.0)))
    assert conflict.retry_after_s == 1.0
    assert (AdapterNotFound.status, AdapterNotFound.code) == (404, "adapter_not_found")
