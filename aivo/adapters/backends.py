"""`open_store`: the adapter store named by `StorageConfig.adapter_root`, chosen by URI scheme."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from aivo.adapters.local_store import LocalAdapterStore
from aivo.adapters.s3_store import S3AdapterStore
from aivo.adapters.store import AdapterStore
from aivo.config import ConfigError, StorageConfig

BACKENDS: dict[str, Callable[[StorageConfig], AdapterStore]] = {
    "": LocalAdapterStore.from_config,  # a plain folder path
    "file": LocalAdapterStore.from_config,
    "s3": S3AdapterStore.from_config,
}


def open_store(config: StorageConfig) -> AdapterStore:
    scheme = urlsplit(config.adapter_root).scheme
    if scheme not in BACKENDS:
        raise ConfigError(
            f"adapter_root {config.adapter_root!r}: unsupported scheme {scheme!r}; "
            "use s3://bucket/prefix, file:///path or a folder path"
        )
    return BACKENDS[scheme](config)
