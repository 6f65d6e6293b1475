"""Object storage behind one small interface: S3 through boto3, or a local directory.

`S3Store` talks to any S3 API (AWS, MinIO, moto's server) with one thread-safe boto3
client (clients are thread-safe, resources are not), so the lifecycle can copy with a
bounded thread pool. `DirectoryStore` keeps objects as files under a root folder: it is
what `make run` uses, so a laptop's artifacts survive a restart without an S3 server.

Every server-side copy reports the SHA-256 of what was stored (S3 additional checksums:
`ChecksumAlgorithm=SHA256`), so a move is verified without downloading the object.
Errors are translated here: a missing object is `ObjectMissing`, anything else from the
storage is `StorageError` (a `TransientError`: the job is retried with backoff).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from sheen.errors import SheenError, TransientError
from sheen.metrics import external_request
from sheen.settings import Settings

COLD_PREFIX = "cold-storage/"
DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1,000 keys


class StorageError(TransientError):
    """The object store failed or could not be reached (retried with backoff)."""


class ObjectMissing(SheenError):
    """No object under that key."""


def cold_key(sha256: str) -> str:
    """The content address of an artifact in the cold bucket."""
    return f"{COLD_PREFIX}{sha256[0:2]}/{sha256[2:4]}/{sha256}"


@dataclass(frozen=True)
class LifecycleRule:
    prefix: str
    days: int
    storage_class: str


class ObjectStore(Protocol):
    """What the lifecycle needs from a store. Keys are bucket-relative."""

    def ensure_buckets(self, *buckets: str) -> None: ...
    def put(self, bucket: str, key: str, data: bytes) -> str: ...
    def get(self, bucket: str, key: str) -> bytes: ...
    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> str: ...
    def stored_sha256(self, bucket: str, key: str) -> str | None: ...
    def read_sha256(self, bucket: str, key: str) -> str | None: ...
    def delete_many(self, bucket: str, keys: Sequence[str]) -> None: ...
    def put_lifecycle_rule(self, bucket: str, rule: LifecycleRule) -> None: ...
    def lifecycle_rules(self, bucket: str) -> list[LifecycleRule]: ...


def _b64_to_hex(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, ValueError):
        return None


def _hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


class S3Store:
    """Any S3 API through one boto3 client (shared by threads)."""

    def __init__(self, client: Any, settings: Settings | None = None) -> None:
        self.client = client
        self.settings = settings
        from botocore.exceptions import BotoCoreError, ClientError

        self._errors = (BotoCoreError, ClientError)

    @classmethod
    def from_settings(cls, settings: Settings, pool_size: int | None = None) -> S3Store:
        import boto3
        from botocore.config import Config

        secret = settings.s3_secret_access_key
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
                max_pool_connections=max(pool_size or settings.artifact_copy_concurrency, 10),
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        return cls(client, settings)

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        """One S3 request, counted in sheen_external_requests_total{dependency="s3"}."""
        missing: Exception | None = None
        with external_request("s3", self.settings):
            try:
                return fn(**kwargs)
            except self._errors as exc:
                code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
                if code not in ("404", "NoSuchKey", "NotFound"):
                    raise StorageError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
                missing = exc  # an answer, not a failure of the dependency
        raise ObjectMissing(f"{what}: {kwargs.get('Bucket')}/{kwargs.get('Key')}") from missing

    def ensure_buckets(self, *buckets: str) -> None:
        existing = {
            b["Name"] for b in self._call("list buckets", self.client.list_buckets)["Buckets"]
        }
        for bucket in buckets:
            if bucket not in existing:
                self._call("create bucket", self.client.create_bucket, Bucket=bucket)

    def put(self, bucket: str, key: str, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._call(
            "put",
            self.client.put_object,
            Bucket=bucket,
            Key=key,
            Body=data,
            ChecksumSHA256=_hex_to_b64(digest),
        )
        return digest

    def get(self, bucket: str, key: str) -> bytes:
        body = self._call("get", self.client.get_object, Bucket=bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        except self._errors as exc:
            raise StorageError(f"get failed: {exc}") from exc

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> str:
        """Server-side copy; return the SHA-256 (hex) the server computed over the copy."""
        result = self._call(
            "copy",
            self.client.copy_object,
            Bucket=dst_bucket,
            Key=dst_key,
            CopySource={"Bucket": src_bucket, "Key": src_key},
            ChecksumAlgorithm="SHA256",
        )
        digest = _b64_to_hex(result.get("CopyObjectResult", {}).get("ChecksumSHA256"))
        if digest is None:  # a server without additional checksums: read it back
            digest = self.read_sha256(dst_bucket, dst_key)
        if digest is None:
            raise StorageError(f"copy to {dst_bucket}/{dst_key} left no object")
        return digest

    def stored_sha256(self, bucket: str, key: str) -> str | None:
        """The checksum recorded with the object (cheap HEAD), or None when absent."""
        try:
            head = self._call(
                "head", self.client.head_object, Bucket=bucket, Key=key, ChecksumMode="ENABLED"
            )
        except ObjectMissing:
            return None
        return _b64_to_hex(head.get("ChecksumSHA256")) or self.read_sha256(bucket, key)

    def read_sha256(self, bucket: str, key: str) -> str | None:
        """SHA-256 of the bytes the server returns now (read back in full), None if absent."""
        try:
            body = self._call("get", self.client.get_object, Bucket=bucket, Key=key)["Body"]
        except ObjectMissing:
            return None
        digest = hashlib.sha256()
        try:
            for chunk in body.iter_chunks(1 << 20):
                digest.update(chunk)
        except self._errors as exc:
            raise StorageError(f"read failed: {exc}") from exc
        return digest.hexdigest()

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            chunk = keys[start : start + DELETE_BATCH]
            result = self._call(
                "delete",
                self.client.delete_objects,
                Bucket=bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )
            errors = [e for e in result.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise StorageError(f"delete failed for {len(errors)} keys: {errors[0]}")

    def put_lifecycle_rule(self, bucket: str, rule: LifecycleRule) -> None:
        self._call(
            "put lifecycle",
            self.client.put_bucket_lifecycle_configuration,
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "sheen-cold-archive",
                        "Filter": {"Prefix": rule.prefix},
                        "Status": "Enabled",
                        "Transitions": [{"Days": rule.days, "StorageClass": rule.storage_class}],
                    }
                ]
            },
        )

    def lifecycle_rules(self, bucket: str) -> list[LifecycleRule]:
        try:
            config = self._call(
                "get lifecycle", self.client.get_bucket_lifecycle_configuration, Bucket=bucket
            )
        except StorageError as exc:
            if "NoSuchLifecycleConfiguration" in str(exc):
                return []
            raise
        rules = []
        for rule in config.get("Rules", []):
            for transition in rule.get("Transitions", []):
                rules.append(
                    LifecycleRule(
                        rule.get("Filter", {}).get("Prefix", ""),
                        int(transition["Days"]),
                        str(transition["StorageClass"]),
                    )
                )
        return rules


class DirectoryStore:
    """Objects as files: `root/bucket/key`. Writes go through a temp file and a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, bucket: str, key: str) -> Path:
        path = (self.root / bucket / key).resolve()
        if not path.is_relative_to((self.root / bucket).resolve()) or ".." in key.split("/"):
            raise StorageError(f"key {key!r} leaves the bucket")
        return path

    def _write(self, path: Path, chunks: Iterable[bytes]) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest.hexdigest()

    def _chunks(self, path: Path) -> Iterable[bytes]:
        try:
            with path.open("rb") as src:
                while chunk := src.read(1 << 20):
                    yield chunk
        except FileNotFoundError:
            raise ObjectMissing(str(path)) from None

    def ensure_buckets(self, *buckets: str) -> None:
        for bucket in buckets:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)

    def put(self, bucket: str, key: str, data: bytes) -> str:
        return self._write(self._path(bucket, key), [data])

    def get(self, bucket: str, key: str) -> bytes:
        return b"".join(self._chunks(self._path(bucket, key)))

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> str:
        src = self._path(src_bucket, src_key)
        if not src.exists():
            raise ObjectMissing(f"{src_bucket}/{src_key}")
        return self._write(self._path(dst_bucket, dst_key), self._chunks(src))

    def stored_sha256(self, bucket: str, key: str) -> str | None:
        return self.read_sha256(bucket, key)

    def read_sha256(self, bucket: str, key: str) -> str | None:
        digest = hashlib.sha256()
        try:
            for chunk in self._chunks(self._path(bucket, key)):
                digest.update(chunk)
        except ObjectMissing:
            return None
        return digest.hexdigest()

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        for key in keys:
            self._path(bucket, key).unlink(missing_ok=True)

    def _rules_file(self, bucket: str) -> Path:
        return self.root / f".{bucket}.lifecycle"

    def put_lifecycle_rule(self, bucket: str, rule: LifecycleRule) -> None:
        self._rules_file(bucket).write_text(f"{rule.prefix}\t{rule.days}\t{rule.storage_class}\n")

    def lifecycle_rules(self, bucket: str) -> list[LifecycleRule]:
        try:
            lines = self._rules_file(bucket).read_text().splitlines()
        except FileNotFoundError:
            return []
        rules = []
        for line in lines:
            prefix, days, storage_class = line.split("\t")
            rules.append(LifecycleRule(prefix, int(days), storage_class))
        return rules


def open_store(settings: Settings, pool_size: int | None = None) -> ObjectStore:
    """The store the settings name: file:///dir -> DirectoryStore, else S3 through boto3."""
    url = settings.s3_endpoint_url
    if url and url.startswith("file://"):
        return DirectoryStore(Path(unquote(urlsplit(url).path)))
    return S3Store.from_settings(settings, pool_size)
