"""Where a dataset is read from: `s3://bucket/key` (boto3, MinIO via an endpoint) or a local path.

The S3 client is the shared one (`aivo.infra.s3`), so credentials, endpoint, region and retries
work as they do for the adapter store.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from aivo.config import StorageConfig
from aivo.infra.s3 import MISSING, S3ClientSettings, error_code
from aivo.training.errors import DatasetNotFound, DatasetUnavailable

MAX_DATASET_BYTES = 256 << 20  # far above a student's history; stops a wrong URI filling memory


def read_dataset(uri: str, storage: StorageConfig) -> bytes:
    """The dataset's bytes; DatasetNotFound or DatasetUnavailable when they cannot be read."""
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        return _read_s3(parts.netloc, parts.path.lstrip("/"), storage)
    if parts.scheme in ("", "file"):
        return _read_local(Path(unquote(parts.path) if parts.scheme else uri).expanduser())
    raise DatasetNotFound(f"dataset {uri!r}: use s3://bucket/key, file:///path or a path")


def _read_local(path: Path) -> bytes:
    if not path.is_file():
        raise DatasetNotFound(f"dataset file {path} does not exist")
    if path.stat().st_size > MAX_DATASET_BYTES:
        raise DatasetUnavailable(f"dataset file {path} is larger than {MAX_DATASET_BYTES} bytes")
    return path.read_bytes()


def _read_s3(bucket: str, key: str, storage: StorageConfig) -> bytes:
    if not bucket or not key:
        raise DatasetNotFound("an S3 dataset is named s3://bucket/key")
    client = S3ClientSettings.of(storage, max_attempts=3).client()
    where = f"s3://{bucket}/{key}"
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        if response["ContentLength"] > MAX_DATASET_BYTES:
            raise DatasetUnavailable(f"dataset {where} is larger than {MAX_DATASET_BYTES} bytes")
        with closing(response["Body"]) as body:
            return bytes(body.read())
    except ClientError as error:
        code = error_code(error)
        if code in MISSING | {"NoSuchBucket"}:
            raise DatasetNotFound(f"dataset {where} does not exist") from None
        raise DatasetUnavailable(f"reading dataset {where} failed: {code}") from None
    except BotoCoreError as error:
        # unreachable endpoint, missing credentials: the class name says which
        raise DatasetUnavailable(
            f"reading dataset {where} failed: {type(error).__name__}: {error}"
        ) from None
