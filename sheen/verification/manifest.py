"""The manifest: canonical JSON bytes describing every file a release serves.

Canonical form: UTF-8, object keys sorted, no insignificant whitespace, no floats,
no duplicate keys (`json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`). The signature covers these exact bytes; a document that
does not re-serialise to itself is refused, so two readers can never disagree on
what was signed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from sheen.verification.refusals import ManifestRefused, Reason

FORMAT = "sheen-manifest/1"
HEX64 = r"^[0-9a-f]{64}$"
COMMIT = r"^[0-9a-f]{40}([0-9a-f]{24})?$"
ENVIRONMENTS = ("ci", "staging", "production")
CHUNK = 1024 * 1024


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, max_length=1024)
    url: str = Field(pattern=r"^https?://", max_length=4096)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=HEX64)


class Manifest(BaseModel):
    """What was built: read only after the signature over its bytes checked out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(pattern=f"^{FORMAT}$")
    domain: str = Field(pattern=r"^[a-z0-9.-]{1,253}$")
    environment: str = Field(pattern=r"^(ci|staging|production)$")
    commit: str = Field(pattern=COMMIT)
    version: int = Field(ge=1)
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    schema_fingerprint: str = Field(pattern=HEX64)
    files: tuple[FileEntry, ...] = Field(min_length=1)


def canonical_bytes(document: Any) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_floats(text: str) -> float:
    raise ValueError(f"float {text} in manifest")


def parse_canonical(raw: bytes) -> Manifest:
    """The manifest in `raw`, or ManifestRefused (non-canonical or invalid). Call after signature."""
    try:
        document = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_float=_no_floats
        )
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ManifestRefused(Reason.NON_CANONICAL, str(exc)[:200]) from exc
    if canonical_bytes(document) != raw:
        raise ManifestRefused(Reason.NON_CANONICAL, "bytes differ from their canonical form")
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ManifestRefused(Reason.INVALID, f"{where}: {err['msg']}") from exc
    if len({f.path for f in manifest.files}) != len(manifest.files):
        raise ManifestRefused(Reason.INVALID, "a path is listed twice")
    return manifest


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def walk_files(root: Path) -> Iterator[Path]:
    """Regular files under `root`, sorted; symlinks are not followed (they could leave it)."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def build_manifest(
    root: Path,
    *,
    domain: str,
    commit: str,
    environment: str,
    base_url: str,
    version: int,
    schema_fingerprint: str,
    valid_for: timedelta = timedelta(days=7),
    now: datetime | None = None,
) -> bytes:
    """The canonical manifest bytes for every file under `root`, served under `base_url`."""
    issued = now or datetime.now(UTC)
    base = base_url if base_url.endswith("/") else base_url + "/"
    files = []
    for path in walk_files(root):
        relative = path.relative_to(root).as_posix()
        size, digest = file_sha256(path)
        files.append(
            {
                "path": relative,
                "url": urljoin(base, quote(relative)),
                "size": size,
                "sha256": digest,
            }
        )
    document = {
        "format": FORMAT,
        "domain": domain,
        "environment": environment,
        "commit": commit,
        "version": version,
        "issued_at": _stamp(issued),
        "expires_at": _stamp(issued + valid_for),
        "schema_fingerprint": schema_fingerprint,
        "files": files,
    }
    Manifest.model_validate(document)  # refuse to write what the verifier would refuse
    return canonical_bytes(document)
