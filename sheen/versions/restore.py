"""Restore a version archive (zip, tar, tar.gz/bz2/xz) into a project's working directory.

Service layer, no Celery. The archive is untrusted: every member name goes through
`validate_relative_path`, links and special files are refused, and sizes are
limited twice (declared in headers, then real bytes counted while streaming, so a
lying header gains nothing). Extraction happens in a fresh folder beside the
working directory and is swapped in only when complete, so a refused archive
leaves the working directory exactly as it was.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast
from uuid import UUID

import structlog

from sheen.errors import SheenError
from sheen.security.paths import PathRefused, is_blocked_name, validate_relative_path

log = structlog.get_logger(__name__)

MiB = 1024 * 1024
_CHUNK = 64 * 1024
# Per-member bytes a tar stream may add beyond file data (header, pax/longname, padding).
_TAR_OVERHEAD_PER_MEMBER = 2048
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_READ_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)
_DECOMPRESSORS: tuple[tuple[bytes, Any], ...] = (
    (b"\x1f\x8b", gzip.open),
    (b"BZh", bz2.open),
    (b"\xfd7zXZ\x00", lzma.open),
)
# Errors that a later attempt may not hit again (disk full, a busy rename).
_TRANSIENT = frozenset({"io_error", "swap_failed", "keep_failed"})


class RestoreRefused(SheenError):
    """The archive or the target was refused; `reason` is a stable code, safe to log."""

    def __init__(
        self, reason: str, message: str | None = None, *, path_reason: str | None = None
    ) -> None:
        self.reason = reason
        self.path_reason = path_reason
        self.permanent = reason not in _TRANSIENT
        super().__init__(message or f"restore refused: {reason.replace('_', ' ')}")


@dataclass(frozen=True)
class RestoreLimits:
    """Ceilings for one archive; `max_files` counts every entry, folders included."""

    max_files: int = 20_000
    max_total_bytes: int = 512 * MiB
    max_file_bytes: int = 128 * MiB
    max_ratio: float = 100.0
    # Below this many uncompressed bytes the ratio is not checked (tiny text compresses well).
    ratio_floor_bytes: int = MiB
    max_archive_bytes: int = 512 * MiB


@dataclass(frozen=True)
class RestoreResult:
    """What was restored; `kept` names top-level entries carried over from the old tree."""

    files: int
    bytes: int
    kept: tuple[str, ...] = ()


def _over_ratio(uncompressed: int, compressed: int, limits: RestoreLimits) -> bool:
    return uncompressed > limits.ratio_floor_bytes and uncompressed > limits.max_ratio * max(
        compressed, 1
    )


class _Budget:
    """Counts entries and real bytes across the whole archive."""

    def __init__(self, limits: RestoreLimits, archive_bytes: int) -> None:
        self.limits = limits
        self.archive_bytes = archive_bytes
        self.entries = 0
        self.files = 0
        self.bytes = 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise RestoreRefused("too_many_files")

    def declared(self, size: int) -> None:
        if size > self.limits.max_file_bytes:
            raise RestoreRefused("file_too_large")
        if size < 0 or self.bytes + size > self.limits.max_total_bytes:
            raise RestoreRefused("too_large")

    def add(self, count: int, member_bytes: int, member_compressed: int | None) -> None:
        self.bytes += count
        if member_bytes > self.limits.max_file_bytes:
            raise RestoreRefused("file_too_large")
        if self.bytes > self.limits.max_total_bytes:
            raise RestoreRefused("too_large")
        if member_compressed is not None and _over_ratio(
            member_bytes, member_compressed, self.limits
        ):
            raise RestoreRefused("ratio")
        if _over_ratio(self.bytes, self.archive_bytes, self.limits):
            raise RestoreRefused("ratio")


class _CappedReader:
    """Wrap a decompressing stream; refuse once it has produced more than the budget allows."""

    def __init__(self, raw: IO[bytes], cap: int, limits: RestoreLimits, archive_bytes: int):
        self.raw, self.cap, self.limits, self.archive_bytes = raw, cap, limits, archive_bytes
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(_CHUNK if size is None or size < 0 else min(size, 4 * _CHUNK))
        self.count += len(data)
        if self.count > self.cap:
            raise RestoreRefused("too_large")
        if _over_ratio(self.count, self.archive_bytes, self.limits):
            raise RestoreRefused("ratio")
        return data


class _Staging:
    """The fresh folder we extract into; tracks names so duplicates and clashes are refused."""

    def __init__(self, root: Path, project_id: str, budget: _Budget) -> None:
        self.root, self.project_id, self.budget = root, project_id, budget
        self.files: set[PurePosixPath] = set()
        self.dirs: set[PurePosixPath] = set()

    def path_for(self, raw: str, is_dir: bool) -> PurePosixPath:
        try:
            rel = validate_relative_path(
                raw, project_id=self.project_id, root=self.root, is_dir=is_dir
            )
        except PathRefused as exc:
            raise RestoreRefused(
                "unsafe_path",
                f"restore refused: unsafe member path ({exc.reason.replace('_', ' ')})",
                path_reason=exc.reason,
            ) from None
        parents = set(rel.parents) - {PurePosixPath(".")}
        if rel in self.files or (not is_dir and rel in self.dirs):
            raise RestoreRefused("duplicate_member")
        if parents & self.files:
            raise RestoreRefused("path_conflict")
        self.dirs |= parents | ({rel} if is_dir else set())
        if not is_dir:
            self.files.add(rel)
        return rel

    def make_dir(self, rel: PurePosixPath) -> None:
        _io(os.makedirs, self.root.joinpath(*rel.parts), 0o755, exist_ok=True)

    def write(
        self, rel: PurePosixPath, src: IO[bytes], executable: bool, compressed: int | None
    ) -> None:
        target = self.root.joinpath(*rel.parts)
        _io(os.makedirs, target.parent, 0o755, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = _io(os.open, target, flags, 0o755 if executable else 0o644)
        written = 0
        try:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                self.budget.add(len(chunk), written, compressed)
                _io(os.write, fd, chunk)
        finally:
            os.close(fd)
        self.budget.files += 1


def _io(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a file-system call on our side; its failures are ours, not the archive's."""
    try:
        return func(*args, **kwargs)
    except OSError:
        raise RestoreRefused("io_error") from None


def _zip_member_kind(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    refusals = {
        stat.S_IFLNK: "symlink_member",
        stat.S_IFCHR: "device_member",
        stat.S_IFBLK: "device_member",
        stat.S_IFIFO: "fifo_member",
        stat.S_IFSOCK: "special_member",
    }
    if kind in refusals:
        return refusals[kind]
    if info.flag_bits & 0x1:
        return "encrypted_member"
    if info.compress_type not in _ZIP_METHODS:
        return "unsupported_compression"
    return None


def _extract_zip(archive: Path, staging: _Staging, limits: RestoreLimits) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise RestoreRefused("too_many_files")
        declared = 0
        for info in infos:  # headers first: refuse cheaply before writing anything
            reason = _zip_member_kind(info)
            if reason:
                raise RestoreRefused(reason)
            staging.budget.declared(info.file_size)
            declared += info.file_size
            if declared > limits.max_total_bytes:
                raise RestoreRefused("too_large")
            if _over_ratio(info.file_size, info.compress_size, limits):
                raise RestoreRefused("ratio")
        for info in infos:
            staging.budget.entry()
            is_dir = info.filename.endswith(("/", "\\"))  # Windows tools write "dir\\"
            if is_dir and info.filename.strip("/\\") in ("", "."):
                continue
            rel = staging.path_for(info.filename, is_dir)
            if is_dir:
                staging.make_dir(rel)
                continue
            with zf.open(info) as src:
                staging.write(
                    rel, src, bool((info.external_attr >> 16) & 0o100), info.compress_size
                )


def _open_decompressed(archive: Path) -> IO[bytes]:
    with archive.open("rb") as probe:
        magic = probe.read(6)
    for prefix, opener in _DECOMPRESSORS:
        if magic.startswith(prefix):
            return cast(IO[bytes], opener(archive, "rb"))
    return archive.open("rb")


def _tar_member_kind(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        return "symlink_member"
    if member.islnk():
        return "hardlink_member"
    if member.ischr() or member.isblk():
        return "device_member"
    if member.isfifo():
        return "fifo_member"
    return None if member.isreg() or member.isdir() else "special_member"


def _extract_tar(archive: Path, staging: _Staging, limits: RestoreLimits) -> None:
    cap = limits.max_total_bytes + (limits.max_files + 1) * _TAR_OVERHEAD_PER_MEMBER + MiB
    with _open_decompressed(archive) as raw:
        reader = _CappedReader(raw, cap, limits, staging.budget.archive_bytes)
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                staging.budget.entry()
                reason = _tar_member_kind(member)
                if reason:
                    raise RestoreRefused(reason)
                if member.isdir() and member.name.strip("/") in ("", "."):
                    continue
                rel = staging.path_for(member.name, member.isdir())
                if member.isdir():
                    staging.make_dir(rel)
                    continue
                staging.budget.declared(member.size)
                src = tar.extractfile(member)
                if src is None:
                    raise RestoreRefused("special_member")
                staging.write(rel, src, bool(member.mode & 0o100), None)


def _archive_kind(archive: Path) -> str:
    if zipfile.is_zipfile(archive):
        return "zip"
    try:
        with _open_decompressed(archive) as raw:
            head = raw.read(512)
    except _READ_ERRORS:
        raise RestoreRefused("unknown_format") from None
    if _tar_checksum_ok(head):
        return "tar"
    raise RestoreRefused("unknown_format")


def _tar_checksum_ok(block: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.TarError:
        return False
    return True


def _check_target(workdir: Path) -> None:
    parent = workdir.parent
    if workdir == parent or not parent.is_dir():
        raise RestoreRefused("workdir_invalid")
    if workdir.is_symlink() or (workdir.exists() and not workdir.is_dir()):
        raise RestoreRefused("workdir_invalid")


def _carry_over(old: Path, new: Path) -> tuple[str, ...]:
    """Move entries an archive can never bring (.env*, .git, node_modules) into the new tree."""
    kept = []
    for entry in sorted(os.listdir(old)):
        if is_blocked_name(entry) and not os.path.lexists(new / entry):
            os.rename(old / entry, new / entry)
            kept.append(entry)
    return tuple(kept)


def _swap(staging: Path, workdir: Path, keep_blocked: bool) -> tuple[str, ...]:
    """Rename the old tree aside, the new one in, carry kept entries over, drop the old."""
    aside: Path | None = None
    if workdir.exists():
        os.chmod(staging, stat.S_IMODE(workdir.stat().st_mode))
        aside = workdir.with_name(f".{workdir.name}.old-{uuid.uuid4().hex[:12]}")
        _io(os.rename, workdir, aside)
    else:
        os.chmod(staging, 0o755)  # noqa: S103 - a project checkout is readable like any other
    try:
        os.rename(staging, workdir)
    except OSError:
        if aside is not None:
            os.rename(aside, workdir)
        raise RestoreRefused("swap_failed") from None
    if aside is None:
        return ()
    try:
        kept = _carry_over(aside, workdir) if keep_blocked else ()
    except OSError:
        raise RestoreRefused(
            "keep_failed",
            "restore applied but kept entries could not be "
            "moved; the previous tree was left beside the working directory",
        ) from None
    shutil.rmtree(aside, ignore_errors=True)
    return kept


def _members(kind: str, archive: Path, staging: _Staging, limits: RestoreLimits) -> None:
    extract = _extract_zip if kind == "zip" else _extract_tar
    try:
        extract(archive, staging, limits)
    except RestoreRefused:
        raise
    except _READ_ERRORS:
        raise RestoreRefused("corrupt") from None


def restore_archive(
    archive_path: str | Path,
    workdir: str | Path,
    project_id: str | UUID,
    limits: RestoreLimits | None = None,
    *,
    keep_blocked: bool = True,
) -> RestoreResult:
    """Replace `workdir` with the archive's contents, or raise RestoreRefused untouched.

    With `keep_blocked`, top-level entries no archive may contain (.env*, .git,
    node_modules, ...) are carried over from the old tree instead of deleted.
    """
    limits = limits or RestoreLimits()
    project = str(project_id)
    archive = Path(archive_path)
    target = Path(os.path.abspath(workdir))
    staging_dir: Path | None = None
    try:
        _check_target(target)
        if not archive.is_file():
            raise RestoreRefused("archive_missing")
        size = archive.stat().st_size
        if size > limits.max_archive_bytes:
            raise RestoreRefused("archive_too_large")
        kind = _archive_kind(archive)
        staging_dir = Path(
            _io(tempfile.mkdtemp, prefix=f".{target.name}.restore-", dir=target.parent)
        )
        staging = _Staging(staging_dir, project, _Budget(limits, size))
        _members(kind, archive, staging, limits)
        if staging.budget.files == 0:
            raise RestoreRefused("empty_archive")
        kept = _swap(staging_dir, target, keep_blocked)
        staging_dir = None
    except RestoreRefused as exc:
        log.warning(
            "restore_refused", project_id=project, reason=exc.reason, path_reason=exc.path_reason
        )
        raise
    finally:
        if staging_dir is not None:
            shutil.rmtree(staging_dir, ignore_errors=True)
    result = RestoreResult(files=staging.budget.files, bytes=staging.budget.bytes, kept=kept)
    log.info(
        "restore_completed",
        project_id=project,
        files=result.files,
        bytes=result.bytes,
        kept=len(kept),
    )
    return result
