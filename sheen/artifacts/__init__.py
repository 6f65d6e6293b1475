"""Artifact lifecycle: soft delete, content-addressed cold storage, purge, verified restore.

live --(jobs.cleanup_artifacts)--> soft-deleted --(jobs.artifacts_cold_move, after
SHEEN_ARTIFACT_SOFT_DELETE_DAYS)--> cold --(jobs.artifacts_purge, after
SHEEN_ARTIFACT_COLD_RETENTION_DAYS)--> purged. `artifacts.restore` brings a soft-deleted
or cold artifact back once its bytes hash to the recorded SHA-256. Every step writes a
row to a hash-chained audit log (`chain.verify`).
"""

from __future__ import annotations

from functools import lru_cache

from sheen.artifacts.chain import ChainReport, verify
from sheen.artifacts.lifecycle import Buckets, delete_hot, move_to_cold, purge
from sheen.artifacts.restore import RestoreResult, restore
from sheen.artifacts.soft_delete import soft_delete_stale
from sheen.artifacts.store import (
    DirectoryStore,
    LifecycleRule,
    ObjectMissing,
    ObjectStore,
    S3Store,
    StorageError,
    cold_key,
)
from sheen.artifacts.store import open_store as _open_store
from sheen.settings import Settings

__all__ = [
    "Buckets",
    "ChainReport",
    "DirectoryStore",
    "LifecycleRule",
    "ObjectMissing",
    "ObjectStore",
    "RestoreResult",
    "S3Store",
    "StorageError",
    "cold_key",
    "delete_hot",
    "move_to_cold",
    "open_store",
    "purge",
    "restore",
    "soft_delete_stale",
    "verify",
]


@lru_cache(maxsize=4)
def open_store(settings: Settings) -> ObjectStore:
    """One store (one thread-safe boto3 client) per process and settings."""
    return _open_store(settings)
