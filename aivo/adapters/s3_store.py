"""The adapter store in S3 or an S3-compatible server (MinIO: set `s3_endpoint_url`).

Conditional writes keep concurrent publishers apart: a version folder is claimed by writing
its first file with `If-None-Match: *`, and the manifest is created the same way or replaced
with `If-Match: <etag>`; a 412 tells the loser to re-read and move on. Credentials come from
boto3's standard chain.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aivo.adapters.errors import AdapterCorrupt, AdapterStoreUnavailable
from aivo.adapters.layout import CHUNK_SIZE, MANIFEST, student_path, version_path
from aivo.adapters.manifest import FileDigest, Manifest
from aivo.adapters.store import AdapterStore, ManifestChanged, ManifestState
from aivo.config import ConfigError, StorageConfig

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_MISSING = {"NoSuchKey", "404", "NotFound"}
# 409 is what AWS answers while another conditional write to the same key is in flight
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_DELETE_BATCH = 1000  # DeleteObjects' limit


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing slash; "" for the bucket's root

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        parts = urlsplit(uri)
        segments = [s for s in parts.path.split("/") if s]
        if (
            parts.scheme != "s3"
            or not _BUCKET.fullmatch(parts.netloc)
            or parts.query
            or parts.fragment
            or any(s in (".", "..") for s in segments)
        ):
            raise ConfigError(f"adapter_root {uri!r} is not s3://bucket/prefix")
        return cls(parts.netloc, "/".join(segments))

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path


@dataclass(frozen=True)
class S3ClientSettings:
    endpoint_url: str | None = None
    region: str | None = None
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = 5
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0

    def client(self) -> Any:
        config = Config(
            retries={"mode": self.retry_mode, "max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            # MinIO and older S3-compatible servers reject the SDK's default CRC checksums
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # a custom endpoint (MinIO, a test server) is rarely reachable as bucket.host
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
        )


class S3AdapterStore(AdapterStore):
    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location

    @classmethod
    def from_config(cls, config: StorageConfig) -> S3AdapterStore:
        settings = S3ClientSettings(endpoint_url=config.s3_endpoint_url, region=config.s3_region)
        return cls(settings.client(), S3Location.parse(config.adapter_root))

    def _load_manifest(self, student_id: str) -> ManifestState | None:
        with _translated("reading a manifest"):
            try:
                response = self.client.get_object(
                    Bucket=self.location.bucket, Key=self._manifest_key(student_id)
                )
            except ClientError as error:
                if _code(error) in _MISSING:
                    return None
                raise
            with closing(response["Body"]) as body:
                data = body.read()
        return ManifestState(Manifest.from_bytes(data, student_id), response["ETag"])

    def _save_manifest(self, student_id: str, manifest: Manifest, expected: str | None) -> None:
        condition = {"IfMatch": expected} if expected else {"IfNoneMatch": "*"}
        with _translated("writing a manifest"):
            try:
                self.client.put_object(
                    Bucket=self.location.bucket,
                    Key=self._manifest_key(student_id),
                    Body=manifest.to_bytes(),
                    ContentType="application/json",
                    **condition,
                )
            except ClientError as error:
                # a missing key under If-Match: the manifest was deleted since it was read
                if _code(error) in _CONFLICT | _MISSING:
                    raise ManifestChanged from error
                raise

    def _create_version(
        self,
        student_id: str,
        version: int,
        files: Mapping[str, Path],
        digests: Mapping[str, FileDigest],
    ) -> bool:
        folder = version_path(student_id, version)
        (claim, claim_path), *rest = files.items()
        with _translated("uploading an adapter"):
            try:
                self._upload(folder, claim, claim_path, digests[claim], IfNoneMatch="*")
            except ClientError as error:
                if _code(error) in _CONFLICT:
                    return False
                raise
            for name, path in rest:
                self._upload(folder, name, path, digests[name])
        return True

    def _discard_version(self, student_id: str, version: int) -> None:
        self._delete_prefix(f"{version_path(student_id, version)}/")

    def _read_file(self, student_id: str, version: int, name: str) -> Iterator[bytes]:
        key = self.location.key(f"{version_path(student_id, version)}/{name}")
        with _translated(f"reading {name}"):
            try:
                body = self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
            except ClientError as error:
                if _code(error) in _MISSING:
                    message = f"{name} of {student_id} v{version} is missing"
                    raise AdapterCorrupt(name, message) from None
                raise
            with closing(body):
                yield from body.iter_chunks(CHUNK_SIZE)

    def _delete_student_files(self, student_id: str) -> int:
        return self._delete_prefix(f"{student_path(student_id)}/", first=MANIFEST)

    def _manifest_key(self, student_id: str) -> str:
        return self.location.key(f"{student_path(student_id)}/{MANIFEST}")

    def _upload(
        self, folder: str, name: str, path: Path, digest: FileDigest, **condition: str
    ) -> None:
        with open(path, "rb") as body:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.location.key(f"{folder}/{name}"),
                Body=body,
                # the server refuses the upload if the bytes it received have another sha256
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(bytes.fromhex(digest.sha256)).decode(),
                **condition,
            )

    def _delete_prefix(self, path: str, first: str | None = None) -> int:
        """Delete every object under `path`, the one named `first` before the others."""
        prefix, bucket = self.location.key(path), self.location.bucket
        with _translated("deleting adapters"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
            rest = keys
            if first is not None and f"{prefix}{first}" in keys:
                # readers stop seeing the student before any of its files disappears
                self.client.delete_object(Bucket=bucket, Key=f"{prefix}{first}")
                rest = [key for key in keys if key != f"{prefix}{first}"]
            for start in range(0, len(rest), _DELETE_BATCH):
                batch = rest[start : start + _DELETE_BATCH]
                response = self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
                if response.get("Errors"):
                    raise AdapterStoreUnavailable(
                        f"S3 refused to delete {len(response['Errors'])} adapter objects"
                    )
        return len(keys)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn botocore's failures into the store's typed error."""
    try:
        yield
    except ClientError as error:
        raise AdapterStoreUnavailable(f"S3 failed {action}: {_code(error)}") from error
    except BotoCoreError as error:
        raise AdapterStoreUnavailable(f"S3 failed {action}: {error}") from error
