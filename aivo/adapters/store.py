"""The adapter store: versioned PEFT LoRA adapters per student, behind one small interface.

`AdapterStore` holds the publish, fetch and rollback logic once; a backend (`LocalAdapterStore`,
`S3AdapterStore`) supplies a handful of storage primitives, chief among them a manifest write
that succeeds only if the manifest is still the revision the writer read. Methods are
synchronous; replicas call them through `asyncio.to_thread`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aivo.adapters.errors import (
    AdapterConflict,
    AdapterCorrupt,
    AdapterNotFound,
    InvalidAdapter,
    StudentDeleted,
)
from aivo.adapters.layout import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    METADATA,
    REQUIRED_FILES,
    checked_student_id,
    checked_version,
    is_student_id,
)
from aivo.adapters.manifest import (
    FileDigest,
    Manifest,
    VersionRecord,
    digest_chunks,
    digest_file,
)
from aivo.observability import pseudonym


@dataclass(frozen=True)
class StudentAdapter:
    """This student's adapter at this version with these weights: what a request names and a
    replica keeps resident (as vLLM's LoRARequest). The sha256 tells a re-created student's
    version 1 from a deleted student's version 1 (version numbers start again after a deletion;
    a replica may still hold the old weights)."""

    student_id: str
    version: int
    weights_sha256: str

    @property
    def tag(self) -> str:
        """What identifies these weights in cache keys."""
        return f"{self.version}:{self.weights_sha256}"


@dataclass(frozen=True)
class FetchedAdapter:
    """A verified copy of one adapter version in a local folder PEFT can load."""

    adapter: StudentAdapter  # its weights' sha256 as verified against the manifest
    path: Path
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ManifestState:
    """A manifest as read, with the revision a conditional write of its successor must match."""

    manifest: Manifest
    revision: str


class ManifestChanged(Exception):
    """A conditional manifest write lost to another writer (internal to the store)."""


class AdapterStore(ABC):
    manifest_attempts = 16  # rounds of re-reading a manifest that other writers keep changing

    # --- the interface -------------------------------------------------------------------

    def publish(
        self,
        student_id: str,
        source_dir: Path,
        metadata: Mapping[str, Any] | None = None,
        *,
        requested_at: float | None = None,
    ) -> int:
        """Store a PEFT adapter folder as the student's next version, make it live, return it.

        Only `adapter_config.json` and `adapter_model.safetensors` are taken from the folder;
        `metadata` (JSON) is stored beside them as `metadata.json`. `requested_at` (Unix time,
        default now): when the adapter was asked for; a student deleted since then is not
        brought back (StudentDeleted), however the publish and the deletion interleave.
        """
        student_id = checked_student_id(student_id)
        requested_at = time.time() if requested_at is None else requested_at
        self._refuse_if_deleted(student_id, requested_at)
        with tempfile.TemporaryDirectory(prefix="aivo-publish-") as staging:
            files = _adapter_files(Path(source_dir), metadata or {}, Path(staging))
            digests = {name: digest_file(path) for name, path in files.items()}
            state = self._load_manifest(student_id)
            first_free = state.manifest.latest + 1 if state else 1
            claimed = self._claim_version(student_id, first_free, files, digests)
            for attempt in range(self.manifest_attempts):
                record = VersionRecord(
                    version=claimed, published_at=datetime.now(UTC), files=digests
                )
                if state:
                    manifest = state.manifest.with_published(record)
                else:
                    manifest = Manifest.first(student_id, record)
                try:
                    self._save_manifest(student_id, manifest, state.revision if state else None)
                except ManifestChanged:
                    state = self._load_manifest(student_id)
                else:
                    # a deletion that began after the check above lists its files before or
                    # after this switch: if after, it removes them; if before, we see its
                    # tombstone here and remove them ourselves
                    if self.deleted_since(student_id, requested_at):
                        self._delete_student_files(student_id)
                        raise StudentDeleted(f"student {student_id} was deleted; not published")
                    return claimed
                if state is not None and state.manifest.latest >= claimed:
                    # a later version went live first: ours moves past it, numbers follow publishing
                    self._discard_version(student_id, claimed)
                    first_free = state.manifest.latest + 1
                    claimed = self._claim_version(student_id, first_free, files, digests)
                _pause(attempt)
            self._discard_version(student_id, claimed)
        raise AdapterConflict(
            f"publishing for {pseudonym(student_id)} kept conflicting with other writers",
            retry_after_s=1.0,
        )

    def students(self, prefix: str = "") -> list[str]:
        """The students whose id starts with `prefix` (a tenant's: `tenant_prefix`) that have a
        folder in the store, sorted; `live` says which of them have a live adapter (a folder
        may be a publish in progress or a deletion half done)."""
        return sorted(name for name in self._student_folders(prefix) if is_student_id(name))

    def manifest(self, student_id: str) -> Manifest | None:
        state = self._load_manifest(checked_student_id(student_id))
        return state.manifest if state else None

    def live(self, student_id: str) -> StudentAdapter | None:
        """The live version, from the manifest alone: cheap enough to read on every request."""
        manifest = self.manifest(student_id)
        if manifest is None:
            return None
        weights = manifest.live.files[ADAPTER_WEIGHTS].sha256
        return StudentAdapter(manifest.student_id, manifest.live_version, weights)

    def live_version(self, student_id: str) -> int | None:
        live = self.live(student_id)
        return live.version if live else None

    def versions(self, student_id: str) -> list[int]:
        manifest = self.manifest(student_id)
        return manifest.version_numbers if manifest else []

    def fetch(self, student_id: str, dest_dir: Path, version: int | None = None) -> FetchedAdapter:
        """Copy a version (default: the live one) into `dest_dir`, verifying every sha256.

        `dest_dir` must not exist or be empty; it appears complete or not at all.
        """
        student_id = checked_student_id(student_id)
        record = self._record(student_id, version)
        wanted = record.version
        dest_dir = Path(dest_dir)
        dest_dir.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.partial-", dir=dest_dir.parent))
        try:
            for name, digest in record.files.items():
                self._download(student_id, wanted, name, digest, partial / name)
            metadata = _read_metadata(partial, student_id, wanted)
            os.rename(partial, dest_dir)  # atomic, and refuses a dest_dir that holds files
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        adapter = StudentAdapter(student_id, wanted, record.files[ADAPTER_WEIGHTS].sha256)
        return FetchedAdapter(adapter, dest_dir, metadata)

    def metadata(self, student_id: str, version: int | None = None) -> dict[str, Any]:
        """A version's published metadata (default: the live one's), checksum verified."""
        student_id = checked_student_id(student_id)
        record = self._record(student_id, version)
        wanted = record.version
        if METADATA not in record.files:
            return {}
        with tempfile.TemporaryDirectory(prefix="aivo-metadata-") as folder:
            self._download(
                student_id, wanted, METADATA, record.files[METADATA], Path(folder) / METADATA
            )
            return _read_metadata(Path(folder), student_id, wanted)

    def _record(self, student_id: str, version: int | None) -> VersionRecord:
        """The manifest's record of a version (default: the live one); AdapterNotFound if none."""
        manifest = self.manifest(student_id)
        if manifest is None:
            raise AdapterNotFound("the student has no adapter")
        wanted = manifest.live_version if version is None else checked_version(version)
        record = manifest.record(wanted)
        if record is None:
            raise AdapterNotFound(f"the student has no adapter version {wanted}")
        return record

    def rollback(self, student_id: str, version: int) -> None:
        """Make an earlier published version live again (a manifest switch only)."""
        student_id, version = checked_student_id(student_id), checked_version(version)
        for attempt in range(self.manifest_attempts):
            state = self._load_manifest(student_id)
            if state is None or state.manifest.record(version) is None:
                raise AdapterNotFound(f"the student has no adapter version {version}")
            if state.manifest.live_version == version:
                return
            try:
                self._save_manifest(student_id, state.manifest.with_live(version), state.revision)
                return
            except ManifestChanged:
                _pause(attempt)
        raise AdapterConflict(
            f"rolling back {pseudonym(student_id)} kept conflicting with other writers",
            retry_after_s=1.0,
        )

    def delete_student(self, student_id: str) -> int:
        """Remove every version and the manifest of a student; returns the files removed.
        Call `mark_deleted` first, so that a publish racing the deletion cannot survive it."""
        return self._delete_student_files(checked_student_id(student_id))

    def mark_deleted(self, student_id: str) -> float:
        """Leave the student's tombstone (the time of deletion, under a pseudonym): publishes
        asked for before it refuse and undo themselves. Returns the time it records."""
        deleted_at = time.time()
        payload = json.dumps({"deleted_at": deleted_at}).encode()
        self._write_tombstone(checked_student_id(student_id), payload)
        return deleted_at

    def deleted_at(self, student_id: str) -> float | None:
        """When the student was last deleted; None if never."""
        data = self._read_tombstone(checked_student_id(student_id))
        if data is None:
            return None
        try:
            return float(json.loads(data)["deleted_at"])
        except (ValueError, KeyError, TypeError):
            raise AdapterCorrupt(
                "tombstone", f"the tombstone of {student_id} is unreadable"
            ) from None

    def deleted_since(self, student_id: str, since: float) -> bool:
        """Whether the student was deleted at or after `since` (Unix time)."""
        deleted_at = self.deleted_at(student_id)
        return deleted_at is not None and deleted_at >= since

    def _refuse_if_deleted(self, student_id: str, requested_at: float) -> None:
        if self.deleted_since(student_id, requested_at):
            raise StudentDeleted(f"student {student_id} was deleted after this was asked for")

    # --- what a backend provides -----------------------------------------------------------

    @abstractmethod
    def _load_manifest(self, student_id: str) -> ManifestState | None:
        """The current manifest, or None when the student has none."""

    @abstractmethod
    def _student_folders(self, prefix: str) -> list[str]:
        """The names starting with `prefix` of the folders under the store's students folder."""

    @abstractmethod
    def _save_manifest(self, student_id: str, manifest: Manifest, expected: str | None) -> None:
        """Write the manifest if its revision is still `expected` (None: it must not exist yet);
        raise ManifestChanged otherwise."""

    @abstractmethod
    def _create_version(
        self,
        student_id: str,
        version: int,
        files: Mapping[str, Path],
        digests: Mapping[str, FileDigest],
    ) -> bool:
        """Store the files as that version's folder; False if the version already exists."""

    @abstractmethod
    def _discard_version(self, student_id: str, version: int) -> None:
        """Remove a version folder this writer created but never made live."""

    @abstractmethod
    def _read_file(self, student_id: str, version: int, name: str) -> Iterator[bytes]:
        """The stored bytes of one file, in chunks; AdapterCorrupt if it is missing."""

    @abstractmethod
    def _delete_student_files(self, student_id: str) -> int:
        """Remove the manifest first, then everything else under the student; count the files."""

    @abstractmethod
    def _write_tombstone(self, student_id: str, data: bytes) -> None:
        """Store (or replace) the student's tombstone."""

    @abstractmethod
    def _read_tombstone(self, student_id: str) -> bytes | None:
        """The student's tombstone, or None."""

    # --- shared steps ---------------------------------------------------------------------------

    def _claim_version(
        self,
        student_id: str,
        version: int,
        files: Mapping[str, Path],
        digests: Mapping[str, FileDigest],
    ) -> int:
        # a taken number belongs to a concurrent publish, or to one that died before its switch
        while not self._create_version(student_id, version, files, digests):
            version += 1
        return version

    def _download(
        self, student_id: str, version: int, name: str, expected: FileDigest, target: Path
    ) -> None:
        with open(target, "wb") as out:
            got = digest_chunks(self._read_file(student_id, version, name), out)
        if got != expected:
            raise AdapterCorrupt(
                name,
                f"{name} of {pseudonym(student_id)} v{version} fails its manifest checksum",
            )


def _adapter_files(source_dir: Path, metadata: Mapping[str, Any], staging: Path) -> dict[str, Path]:
    missing = [name for name in REQUIRED_FILES if not (source_dir / name).is_file()]
    if missing:
        raise InvalidAdapter(f"{source_dir} is not a PEFT adapter folder: missing {missing}")
    try:
        config = json.loads((source_dir / ADAPTER_CONFIG).read_bytes())
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise InvalidAdapter(f"{source_dir / ADAPTER_CONFIG} is not a JSON object")
    try:
        (staging / METADATA).write_text(json.dumps(dict(metadata), sort_keys=True, indent=2))
    except (TypeError, ValueError) as error:
        raise InvalidAdapter(f"adapter metadata must be JSON-serialisable: {error}") from None
    return {name: source_dir / name for name in REQUIRED_FILES} | {METADATA: staging / METADATA}


def _read_metadata(folder: Path, student_id: str, version: int) -> dict[str, Any]:
    if not (folder / METADATA).exists():
        return {}
    try:
        metadata = json.loads((folder / METADATA).read_bytes())
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        message = f"{METADATA} of {pseudonym(student_id)} v{version} is not a JSON object"
        raise AdapterCorrupt(METADATA, message)
    return metadata


def _pause(attempt: int) -> None:
    # jitter spreads writers that collided so the next round mostly has a single winner
    time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
