"""Student adapters: the versioned store (S3 or a local folder) behind `open_store`."""

from aivo.adapters.backends import open_store
from aivo.adapters.errors import (
    AdapterConflict,
    AdapterCorrupt,
    AdapterNotFound,
    AdapterStoreUnavailable,
    InvalidAdapter,
    StudentDeleted,
)
from aivo.adapters.local_store import LocalAdapterStore
from aivo.adapters.manifest import FileDigest, Manifest, VersionRecord
from aivo.adapters.s3_store import S3AdapterStore
from aivo.adapters.store import AdapterStore, FetchedAdapter, StudentAdapter

__all__ = [
    "AdapterConflict",
    "AdapterCorrupt",
    "AdapterNotFound",
    "AdapterStore",
    "AdapterStoreUnavailable",
    "FetchedAdapter",
    "FileDigest",
    "InvalidAdapter",
    "LocalAdapterStore",
    "Manifest",
    "S3AdapterStore",
    "StudentAdapter",
    "StudentDeleted",
    "VersionRecord",
    "open_store",
]
