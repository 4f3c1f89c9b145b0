"""Training data that apps send with a clone request, kept where the clone job can read it.

`{dataset_root}/students/{pseudonym}/{unix time}-{sha256[:12]}.jsonl`, in a local folder or an
S3 prefix (the shared S3 client, `aivo.infra.s3`), with the student id beside it in a `.owner`
file: the clone job's entrypoint, which Ray's job API shows, names only the dataset. It is a
child's data: deleting a student removes it (every version, in a versioned bucket), and `expire`
removes what is older than the retention setting. A deletion that S3 refuses raises
DatasetStoreUnavailable (503), never a count of files that are still there.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from pathlib import Path

from aivo.adapters.layout import checked_student_id
from aivo.config import StorageConfig
from aivo.errors import AivoError
from aivo.infra.s3 import (
    ObjectVersion,
    S3ClientSettings,
    S3Location,
    delete_versions,
    list_versions,
    translated,
)
from aivo.security.pseudonyms import keyed_pseudonym

OWNER_SUFFIX = ".owner"


class DatasetStoreUnavailable(AivoError):
    """The training data store could not be reached, or refused to store or delete."""

    status, code = 503, "dataset_store_unavailable"


def _name(content: bytes) -> str:
    return f"{int(time.time())}-{hashlib.sha256(content).hexdigest()[:12]}.jsonl"


def owner_uri(dataset_uri: str) -> str:
    """Where the id of the student who owns a stored dataset is kept."""
    return dataset_uri.removesuffix(".jsonl") + OWNER_SUFFIX


def _folder(student_id: str) -> str:
    return keyed_pseudonym(checked_student_id(student_id), "aivo-dataset", 32)


def _stored_at(name: str) -> int:
    return int(name.split("-", 1)[0])


class DatasetStore(ABC):
    @abstractmethod
    def save(self, student_id: str, content: bytes) -> str:
        """Store one dataset; the URI the clone job reads it from."""

    @abstractmethod
    def delete_student(self, student_id: str) -> int:
        """Remove every stored dataset of a student; how many."""

    @abstractmethod
    def expire(self, older_than_s: float) -> int:
        """Remove datasets stored longer ago than `older_than_s`; how many."""


class LocalDatasetStore(DatasetStore):
    def __init__(self, root: Path) -> None:
        self.root = root / "students"

    def save(self, student_id: str, content: bytes) -> str:
        folder = self.root / _folder(student_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _name(content)
        Path(owner_uri(str(path))).write_text(student_id, encoding="utf-8")
        partial = path.with_suffix(".partial")
        partial.write_bytes(content)
        partial.rename(path)  # the job never sees half a file
        return str(path)

    def delete_student(self, student_id: str) -> int:
        folder = self.root / _folder(student_id)
        files = list(folder.glob("*")) if folder.is_dir() else []
        for path in files:
            path.unlink()
        if folder.is_dir():
            folder.rmdir()
        return sum(path.suffix == ".jsonl" for path in files)

    def expire(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        old = [p for p in self.root.glob("*/*") if _stored_at(p.name) < cutoff]
        for path in old:
            path.unlink()
        return sum(path.suffix == ".jsonl" for path in old)


class S3DatasetStore(DatasetStore):
    def __init__(self, config: StorageConfig) -> None:
        self.location = S3Location.parse(config.dataset_root)
        self.client = S3ClientSettings.of(config).client()

    def _versions(self, prefix: str) -> list[ObjectVersion]:
        with translated("listing training data", DatasetStoreUnavailable):
            return list_versions(self.client, self.location.bucket, self.location.key(prefix))

    def _delete(self, versions: list[ObjectVersion]) -> int:
        """Delete the versions; the number of datasets (keys) removed."""
        with translated("deleting training data", DatasetStoreUnavailable):
            refused = delete_versions(self.client, self.location.bucket, versions)
        if refused:
            raise DatasetStoreUnavailable(f"S3 refused to delete {refused} training data objects")
        return len({v.key for v in versions if not v.marker and v.key.endswith(".jsonl")})

    def save(self, student_id: str, content: bytes) -> str:
        key = self.location.key(f"students/{_folder(student_id)}/{_name(content)}")
        bucket = self.location.bucket
        with translated("storing training data", DatasetStoreUnavailable):
            self.client.put_object(Bucket=bucket, Key=owner_uri(key), Body=student_id.encode())
            self.client.put_object(Bucket=bucket, Key=key, Body=content)
        return f"s3://{bucket}/{key}"

    def delete_student(self, student_id: str) -> int:
        return self._delete(self._versions(f"students/{_folder(student_id)}/"))

    def expire(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        versions = self._versions("students/")
        return self._delete([v for v in versions if _stored_at(v.key.rsplit("/", 1)[-1]) < cutoff])


def open_dataset_store(config: StorageConfig) -> DatasetStore:
    if config.dataset_root.startswith("s3://"):
        return S3DatasetStore(config)
    return LocalDatasetStore(Path(config.dataset_root))
