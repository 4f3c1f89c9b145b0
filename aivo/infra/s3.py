"""The S3 client every S3 user shares (adapters, training datasets): one way to name a location,
build a client (MinIO: set an endpoint) and read botocore's failures.

Credentials come from boto3's standard chain; with no endpoint configured boto3 still honours
`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` from the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aivo.config import ConfigError, StorageConfig

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MISSING = {"NoSuchKey", "404", "NotFound"}  # the object (not the bucket) does not exist
DELETE_BATCH = 1000  # DeleteObjects' limit


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
            raise ConfigError(f"{uri!r} is not s3://bucket/prefix")
        return cls(parts.netloc, "/".join(segments))

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str
    marker: bool = False  # a delete marker: the key's newest "version" says it was deleted


@dataclass(frozen=True)
class S3ClientSettings:
    endpoint_url: str | None = None
    region: str | None = None
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = 5
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0

    @classmethod
    def of(cls, storage: StorageConfig, **overrides: Any) -> S3ClientSettings:
        return cls(endpoint_url=storage.s3_endpoint_url, region=storage.s3_region, **overrides)

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


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def translated(action: str, error_type: type[Exception]) -> Iterator[None]:
    """Turn botocore's failures into the caller's typed error, `error_type(message)`."""
    try:
        yield
    except ClientError as error:
        raise error_type(f"S3 failed {action}: {error_code(error)}") from error
    except BotoCoreError as error:
        # unreachable endpoint, missing credentials: the class name says which
        raise error_type(f"S3 failed {action}: {type(error).__name__}: {error}") from error


def list_folders(client: Any, bucket: str, prefix: str, name_prefix: str) -> list[str]:
    """The names of the "folders" right under `prefix` (which ends with a slash) that start
    with `name_prefix`."""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}{name_prefix}", Delimiter="/"
    )
    return [
        common["Prefix"][len(prefix) :].rstrip("/")
        for page in pages
        for common in page.get("CommonPrefixes", [])
    ]


def list_versions(client: Any, bucket: str, prefix: str) -> list[ObjectVersion]:
    """Every stored version and delete marker under `prefix` (an unversioned bucket answers
    one version, "null", per key): deleting these leaves nothing behind in any bucket."""
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    return [
        ObjectVersion(item["Key"], item["VersionId"], marker=kind == "DeleteMarkers")
        for page in pages
        for kind in ("Versions", "DeleteMarkers")
        for item in page.get(kind, [])
    ]


def delete_versions(client: Any, bucket: str, versions: list[ObjectVersion]) -> int:
    """Deletes the versions in batches, delete markers last (removing a key's marker while an
    older version remains would make that version current again); returns how many S3 refused."""
    refused = 0
    for kind in ([v for v in versions if not v.marker], [v for v in versions if v.marker]):
        for start in range(0, len(kind), DELETE_BATCH):
            batch = [{"Key": v.key, "VersionId": v.version_id} for v in kind[start:][:DELETE_BATCH]]
            response = client.delete_objects(
                Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
            )
            refused += len(response.get("Errors", []))
    return refused
