"""The adapter store in S3 or an S3-compatible server (MinIO: set `s3_endpoint_url`).

Conditional writes keep concurrent publishers apart: a version folder is claimed by writing
its first file with `If-None-Match: *`, and the manifest is created the same way or replaced
with `If-Match: <etag>`; a 412 tells the loser to re-read and move on. Credentials come from
boto3's standard chain.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from aivo.adapters.errors import AdapterCorrupt, AdapterStoreUnavailable
from aivo.adapters.layout import (
    CHUNK_SIZE,
    MANIFEST,
    STUDENTS,
    student_path,
    tombstone_path,
    version_path,
)
from aivo.adapters.manifest import FileDigest, Manifest
from aivo.adapters.store import AdapterStore, ManifestChanged, ManifestState
from aivo.config import StorageConfig
from aivo.infra.s3 import (
    MISSING,
    S3ClientSettings,
    S3Location,
    delete_versions,
    error_code,
    list_folders,
    list_versions,
    translated,
)
from aivo.observability import pseudonym

# 409 is what AWS answers while another conditional write to the same key is in flight
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class S3AdapterStore(AdapterStore):
    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location

    @classmethod
    def from_config(cls, config: StorageConfig) -> S3AdapterStore:
        return cls(S3ClientSettings.of(config).client(), S3Location.parse(config.adapter_root))

    def _load_manifest(self, student_id: str) -> ManifestState | None:
        with _translated("reading a manifest"):
            try:
                response = self.client.get_object(
                    Bucket=self.location.bucket, Key=self._manifest_key(student_id)
                )
            except ClientError as error:
                if error_code(error) in MISSING:
                    return None
                raise
            with closing(response["Body"]) as body:
                data = body.read()
        return ManifestState(Manifest.from_bytes(data, student_id), response["ETag"])

    def _student_folders(self, prefix: str) -> list[str]:
        with _translated("listing students"):
            folder = self.location.key(f"{STUDENTS}/")
            return list_folders(self.client, self.location.bucket, folder, prefix)

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
                if error_code(error) in _CONFLICT | MISSING:
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
                if error_code(error) in _CONFLICT:
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
                if error_code(error) in MISSING:
                    message = f"{name} of {pseudonym(student_id)} v{version} is missing"
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
        """Delete every object under `path`, every version of it in a versioned bucket, the one
        named `first` hidden before the others go; the number of objects (keys) removed."""
        prefix, bucket = self.location.key(path), self.location.bucket
        with _translated("deleting adapters"):
            found = list_versions(self.client, bucket, prefix)  # what is removed, `first` too
            if first is not None:
                # readers stop seeing the student before any of its files disappears
                self.client.delete_object(Bucket=bucket, Key=f"{prefix}{first}")
            versions = list_versions(self.client, bucket, prefix)
            refused = delete_versions(self.client, bucket, versions)
            if refused:
                raise AdapterStoreUnavailable(f"S3 refused to delete {refused} adapter objects")
        return len({v.key for v in found + versions if not v.marker})

    def _write_tombstone(self, student_id: str, data: bytes) -> None:
        key = self.location.key(tombstone_path(student_id))
        with _translated("writing a tombstone"):
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data)

    def _read_tombstone(self, student_id: str) -> bytes | None:
        key = self.location.key(tombstone_path(student_id))
        with _translated("reading a tombstone"):
            try:
                response = self.client.get_object(Bucket=self.location.bucket, Key=key)
            except ClientError as error:
                if error_code(error) in MISSING:
                    return None
                raise
            with closing(response["Body"]) as body:
                return bytes(body.read())


def _translated(action: str) -> AbstractContextManager[None]:
    return translated(action, AdapterStoreUnavailable)
