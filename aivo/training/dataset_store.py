"""Training data that apps send with a clone request, kept where the clone job can read it.

`{dataset_root}/students/{student_id}/{unix time}-{sha256[:12]}.jsonl`, in a local folder or an
S3 prefix (the shared S3 client, `aivo.infra.s3`). It is a child's data: deleting a student
removes it (every version, in a versioned bucket), and `expire` removes what is older than the
retention setting. A deletion that S3 refuses raises DatasetStoreUnavailable (503), never a
count of files that are still there.
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


class DatasetStoreUnavailable(AivoError):
    """The training data store could not be reached, or refused to store or delete."""

    status, code = 503, "dataset_store_unavailable"


def _name(content: bytes) -> str:
    return f"{int(time.time())}-{hashlib.sha256(content).hexdigest()[:12]}.jsonl"


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
        folder = self.root / checked_student_id(student_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _name(content)
        partial = path.with_suffix(".partial")
        partial.write_bytes(content)
        partial.rename(path)  # the job never sees half a file
        return str(path)

    def delete_student(self, student_id: str) -> int:
        folder = self.root / checked_student_id(student_id)
        files = list(folder.glob("*.jsonl")) if folder.is_dir() else []
        for path in files:
            path.unlink()
        if folder.is_dir():
            folder.rmdir()
        return len(files)

    def expire(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        old = [p for p in self.root.glob("*/*.jsonl") if _stored_at(p.name) < cutoff]
        for path in old:
            path.unlink()
        return len(old)


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
        return len({v.key for v in versions if not v.marker})

    def save(self, student_id: str, content: bytes) -> str:
        key = self.location.key(f"students/{checked_student_id(student_id)}/{_name(content)}")
        with translated("storing training data", DatasetStoreUnavailable):
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=content)
        return f"s3://{self.location.bucket}/{key}"

    def delete_student(self, student_id: str) -> int:
        return self._delete(self._versions(f"students/{checked_student_id(student_id)}/"))

    def expire(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        versions = self._versions("students/")
        return self._delete([v for v in versions if _stored_at(v.key.rsplit("/", 1)[-1]) < cutoff])


def open_dataset_store(config: StorageConfig) -> DatasetStore:
    if config.dataset_root.startswith("s3://"):
        return S3DatasetStore(config)
    return LocalDatasetStore(Path(config.dataset_root))
