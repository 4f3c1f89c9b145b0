"""The adapter store's behavioural suite against a real S3 endpoint (a moto server process)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from aivo.adapters import AdapterStore, AdapterStoreUnavailable, S3AdapterStore, open_store
from aivo.config import StorageConfig
from aivo.infra.s3 import S3ClientSettings, S3Location
from support.ports import free_port
from support.s3_server import S3Bucket, S3Server
from tests.unit.test_adapter_store import (  # noqa: F401
    WEIGHTS,
    AdapterStoreContract,
    StoredFiles,
    adapters,
)

pytestmark = pytest.mark.slow

PREFIX = "tenant-a/adapters"


class S3Objects:
    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket

    def _key(self, student_id: str, relative: str) -> str:
        return f"{PREFIX}/students/{student_id}/{relative}"

    def overwrite(self, student_id: str, relative: str, data: bytes) -> None:
        key = self._key(student_id, relative)
        self.bucket.client.put_object(Bucket=self.bucket.name, Key=key, Body=data)

    def read(self, student_id: str, relative: str) -> bytes:
        key = self._key(student_id, relative)
        response = self.bucket.client.get_object(Bucket=self.bucket.name, Key=key)
        return bytes(response["Body"].read())

    def names(self) -> list[str]:
        response = self.bucket.client.list_objects_v2(Bucket=self.bucket.name)
        return sorted(item["Key"] for item in response.get("Contents", []))


class TestS3AdapterStore(AdapterStoreContract):
    @pytest.fixture
    def store(self, s3_bucket: S3Bucket) -> AdapterStore:
        config = StorageConfig(
            adapter_root=f"s3://{s3_bucket.name}/{PREFIX}",
            s3_endpoint_url=s3_bucket.server.endpoint_url,
        )
        store = open_store(config)
        assert isinstance(store, S3AdapterStore)
        return store

    @pytest.fixture
    def stored(self, s3_bucket: S3Bucket) -> StoredFiles:
        return S3Objects(s3_bucket)

    def test_files_are_uploaded_with_their_sha256(
        self,
        store: AdapterStore,
        s3_bucket: S3Bucket,
        adapters: list[Path],  # noqa: F811
    ) -> None:
        store.publish("s1", adapters[0])
        head = s3_bucket.client.head_object(
            Bucket=s3_bucket.name,
            Key=f"{PREFIX}/students/s1/v1/{WEIGHTS}",
            ChecksumMode="ENABLED",
        )
        expected = hashlib.sha256((adapters[0] / WEIGHTS).read_bytes()).digest()
        assert head["ChecksumSHA256"] == base64.b64encode(expected).decode()


def test_missing_bucket_is_reported_as_unavailable(s3_server: S3Server) -> None:
    config = StorageConfig(
        adapter_root="s3://no-such-bucket", s3_endpoint_url=s3_server.endpoint_url
    )
    with pytest.raises(AdapterStoreUnavailable, match="NoSuchBucket"):
        open_store(config).live_version("s1")


def test_unreachable_endpoint_is_reported_as_unavailable(s3_server: S3Server) -> None:
    """Nothing listens on the port; `s3_server` only provides the dummy credentials."""
    settings = S3ClientSettings(endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1)
    store = S3AdapterStore(settings.client(), S3Location("adapters", ""))
    with pytest.raises(AdapterStoreUnavailable):
        store.live_version("s1")
