"""The adapter store in a local folder: the embedded default, and a shared filesystem's.

Version folders are staged under a temporary name and renamed into place (a rename onto an
existing version folder fails, so numbers never collide); the manifest is replaced atomically
under an fcntl lock that turns its write into a compare-and-swap, as S3's conditional writes do.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from aivo.adapters.errors import AdapterCorrupt, InvalidAdapter
from aivo.adapters.layout import (
    CHUNK_SIZE,
    MANIFEST,
    STUDENTS,
    student_path,
    tombstone_path,
    version_path,
)
from aivo.adapters.manifest import FileDigest, Manifest, digest_chunks, file_chunks
from aivo.adapters.store import AdapterStore, ManifestChanged, ManifestState
from aivo.config import ConfigError, StorageConfig
from aivo.observability import pseudonym

LOCK_FILE = ".publish.lock"


def local_root(uri: str) -> Path:
    """The folder named by `adapter_root`: a path, or a `file://` URI."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigError(f"adapter_root {uri!r}: a file URI names a local path, file:///path")
        return Path(unquote(parts.path))
    if not uri.strip():
        raise ConfigError("adapter_root is empty")
    return Path(uri).expanduser()


class LocalAdapterStore(AdapterStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_config(cls, config: StorageConfig) -> LocalAdapterStore:
        return cls(local_root(config.adapter_root))

    def _load_manifest(self, student_id: str) -> ManifestState | None:
        try:
            data = (self.root / student_path(student_id) / MANIFEST).read_bytes()
        except FileNotFoundError:
            return None
        return ManifestState(Manifest.from_bytes(data, student_id), _revision(data))

    def _student_folders(self, prefix: str) -> list[str]:
        try:
            folders = (self.root / STUDENTS).iterdir()
            return [e.name for e in folders if e.name.startswith(prefix) and e.is_dir()]
        except FileNotFoundError:
            return []

    def _save_manifest(self, student_id: str, manifest: Manifest, expected: str | None) -> None:
        student_dir = self.root / student_path(student_id)
        student_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            try:
                current: str | None = _revision((student_dir / MANIFEST).read_bytes())
            except FileNotFoundError:
                current = None
            if current != expected:
                raise ManifestChanged
            _write_atomically(student_dir / MANIFEST, manifest.to_bytes())

    def _create_version(
        self,
        student_id: str,
        version: int,
        files: Mapping[str, Path],
        digests: Mapping[str, FileDigest],
    ) -> bool:
        target = self.root / version_path(student_id, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        try:
            for name, source in files.items():
                if _copy_durably(source, staging / name) != digests[name]:
                    raise InvalidAdapter(f"{source} changed while it was being published")
            os.rename(staging, target)
            return True
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return False
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already when the rename succeeded

    def _discard_version(self, student_id: str, version: int) -> None:
        shutil.rmtree(self.root / version_path(student_id, version), ignore_errors=True)

    def _read_file(self, student_id: str, version: int, name: str) -> Iterator[bytes]:
        try:
            f = open(self.root / version_path(student_id, version) / name, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise AdapterCorrupt(
                name, f"{name} of {pseudonym(student_id)} v{version} is missing"
            ) from None
        with f:
            while chunk := f.read(CHUNK_SIZE):
                yield chunk

    def _delete_student_files(self, student_id: str) -> int:
        student_dir = self.root / student_path(student_id)
        removed = 0
        with self._locked():
            try:
                (student_dir / MANIFEST).unlink()
                removed += 1
            except FileNotFoundError:
                pass
            if student_dir.is_dir():
                removed += sum(1 for p in student_dir.rglob("*") if not p.is_dir())
                shutil.rmtree(student_dir)
        return removed

    def _write_tombstone(self, student_id: str, data: bytes) -> None:
        path = self.root / tombstone_path(student_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, data)

    def _read_tombstone(self, student_id: str) -> bytes | None:
        try:
            return (self.root / tombstone_path(student_id)).read_bytes()
        except FileNotFoundError:
            return None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # one lock for the whole root: a per-student lock file would outlive a deleted student
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # flock, not lockf: it also excludes other threads
            yield


def _revision(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _copy_durably(source: Path, target: Path) -> FileDigest:
    with open(source, "rb") as src, open(target, "wb") as dst:
        digest = digest_chunks(file_chunks(src), dst)
        dst.flush()
        os.fsync(dst.fileno())  # the manifest may name this file right after: it must be on disk
    return digest


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
