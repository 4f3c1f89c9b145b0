"""The per-student manifest: which version is live, every published version and its files' sha256.

It is the only mutable object of a student's adapters; version folders never change once
published, so switching the manifest is what makes a version live.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aivo.adapters.errors import AdapterCorrupt
from aivo.adapters.layout import (
    ADAPTER_FILES,
    CHUNK_SIZE,
    MANIFEST,
    REQUIRED_FILES,
    STORED_ID_PATTERN,
)
from aivo.observability import pseudonym


class _Stored(BaseModel):
    # unknown keys are ignored so replicas on the previous release still read a newer manifest
    model_config = ConfigDict(frozen=True, extra="ignore")


class FileDigest(_Stored):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex sha256 of the file's bytes.")
    size: int = Field(ge=0, description="Size in bytes.")


def digest_chunks(chunks: Iterable[bytes], out: BinaryIO | None = None) -> FileDigest:
    """The sha256 and size of the bytes, written to `out` on the way when one is given."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    return FileDigest(sha256=digest.hexdigest(), size=size)


def file_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(CHUNK_SIZE):
        yield chunk


def digest_file(path: Path) -> FileDigest:
    with open(path, "rb") as f:
        return digest_chunks(file_chunks(f))


class VersionRecord(_Stored):
    version: int = Field(ge=1)
    published_at: datetime
    files: dict[str, FileDigest] = Field(description="File name in the version folder -> digest.")

    @field_validator("files")
    @classmethod
    def _known_files(cls, files: dict[str, FileDigest]) -> dict[str, FileDigest]:
        # file names become local paths on fetch: only the known adapter files are accepted
        unknown = sorted(set(files) - ADAPTER_FILES)
        missing = sorted(set(REQUIRED_FILES) - set(files))
        if unknown or missing:
            raise ValueError(f"unexpected files {unknown}, missing files {missing}")
        return files


class Manifest(_Stored):
    format_version: Literal[1] = 1
    student_id: str = Field(pattern=STORED_ID_PATTERN)
    live_version: int
    versions: tuple[VersionRecord, ...] = Field(min_length=1, description="In publish order.")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        numbers = self.version_numbers
        if numbers != sorted(set(numbers)):
            raise ValueError("versions must be distinct and increasing")
        if self.live_version not in numbers:
            raise ValueError("live_version is not a published version")
        return self

    @property
    def version_numbers(self) -> list[int]:
        return [record.version for record in self.versions]

    @property
    def latest(self) -> int:
        return self.versions[-1].version

    @property
    def live(self) -> VersionRecord:
        return next(r for r in self.versions if r.version == self.live_version)

    def record(self, version: int) -> VersionRecord | None:
        return next((r for r in self.versions if r.version == version), None)

    def with_published(self, record: VersionRecord) -> Manifest:
        return Manifest(
            student_id=self.student_id,
            live_version=record.version,
            versions=(*self.versions, record),
        )

    def with_live(self, version: int) -> Manifest:
        return Manifest(student_id=self.student_id, live_version=version, versions=self.versions)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=2).encode()

    @classmethod
    def first(cls, student_id: str, record: VersionRecord) -> Manifest:
        return cls(student_id=student_id, live_version=record.version, versions=(record,))

    @classmethod
    def from_bytes(cls, data: bytes, student_id: str) -> Manifest:
        try:
            manifest = cls.model_validate_json(data)
        except ValidationError as error:
            message = f"{MANIFEST} of {pseudonym(student_id)} is invalid: {error}"
            raise AdapterCorrupt(MANIFEST, message) from None
        if manifest.student_id != student_id:
            raise AdapterCorrupt(
                MANIFEST, f"{MANIFEST} of {pseudonym(student_id)} names another student"
            )
        return manifest
