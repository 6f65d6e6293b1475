"""Version restore: slip, links, special files, bombs, limits and the atomic swap."""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.version_history import RestorePayload
from sheen.versions.restore import RestoreLimits, RestoreRefused, RestoreResult, restore_archive

PROJECT = "5b0f3c1e-8f7a-4d59-9a0e-2b7c6d1e4f10"
GOOD_FILES = {
    "package.json": b'{"name": "demo"}\n',
    "src/index.ts": b"export const answer = 42;\n",
    "src/components/deep/Button.tsx": b"export default () => null;\n",
    "public/logo.bin": bytes(range(256)) * 8,
}

Snapshot = dict[str, object]


def snapshot(root: Path) -> Snapshot:
    """Names, bytes, link targets and folders of a tree, for before/after comparison."""
    tree: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                tree[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                tree[rel] = "dir"
            else:
                tree[rel] = path.read_bytes()
    return tree


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """An existing project with old files plus entries no archive may bring."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "old.ts").write_bytes(b"old\n")
    (root / ".env").write_bytes(b"API_KEY=keep-me\n")
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "node_modules" / "left-pad" / "index.js").write_bytes(b"module.exports = 1\n")
    return root


def make_zip(path: Path, entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def make_tar(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz"
) -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def tar_file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def tar_special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def _refused(archive: Path, workdir: Path, limits: RestoreLimits | None = None) -> RestoreRefused:
    """Assert the restore is refused and the working directory is byte-for-byte untouched."""
    before = snapshot(workdir)
    siblings = sorted(p.name for p in workdir.parent.iterdir())
    with pytest.raises(RestoreRefused) as info:
        restore_archive(archive, workdir, PROJECT, limits)
    assert snapshot(workdir) == before
    assert sorted(p.name for p in workdir.parent.iterdir()) == siblings  # no staging left over
    return info.value


# --- good archives ----------------------------------------------------------------------


def test_good_zip_restored_byte_for_byte(tmp_path: Path, workdir: Path) -> None:
    """A clean zip replaces the tree exactly; .env and node_modules are carried over."""
    archive = make_zip(tmp_path / "v3.zip", {"src/": b"", **GOOD_FILES})
    result = restore_archive(archive, workdir, PROJECT)
    assert result == RestoreResult(
        files=4, bytes=sum(map(len, GOOD_FILES.values())), kept=(".env", "node_modules")
    )
    tree = snapshot(workdir)
    assert {k: v for k, v in tree.items() if isinstance(v, bytes)} == {
        **GOOD_FILES,
        ".env": b"API_KEY=keep-me\n",
        "node_modules/left-pad/index.js": b"module.exports = 1\n",
    }
    assert "src/old.ts" not in tree


def test_good_tar_gz_restored_byte_for_byte(tmp_path: Path) -> None:
    """A tar.gz with `./` prefixes and folder entries restores into a new working directory."""
    folder = tarfile.TarInfo("./src")
    folder.type = tarfile.DIRTYPE
    members = [
        tar_special(".", tarfile.DIRTYPE),
        (folder, None),
        *(tar_file(f"./{name}", data) for name, data in GOOD_FILES.items()),
    ]
    archive = make_tar(tmp_path / "v3.tar.gz", members)
    target = tmp_path / "fresh"
    result = restore_archive(archive, target, PROJECT)
    assert result.files == 4 and result.kept == ()
    assert {k: v for k, v in snapshot(target).items() if isinstance(v, bytes)} == GOOD_FILES


def test_plain_tar_and_keep_blocked_off(tmp_path: Path, workdir: Path) -> None:
    """An uncompressed tar works too; with keep_blocked=False nothing old survives."""
    archive = make_tar(tmp_path / "v.tar", [tar_file("src/a.ts", b"a")], mode="w")
    restore_archive(archive, workdir, PROJECT, keep_blocked=False)
    assert snapshot(workdir) == {"src": "dir", "src/a.ts": b"a"}


def test_windows_zip_paths_restored(tmp_path: Path) -> None:
    """A zip written on Windows (backslash separators, `dir\\` entries) restores normally."""
    archive = make_zip(tmp_path / "win.zip", {"src\\": b"", "src\\app\\page.tsx": b"page"})
    restore_archive(archive, tmp_path / "fresh", PROJECT)
    assert (tmp_path / "fresh" / "src" / "app" / "page.tsx").read_bytes() == b"page"


# --- hostile members ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "src/../../evil.txt",
        "/tmp/evil.txt",
        "src\\..\\..\\evil.txt",
        "C:\\evil.txt",
        ".env",
        "src/%2e%2e/%2e%2e/evil.txt",
    ],
)
def test_zip_slip_refused(tmp_path: Path, workdir: Path, name: str) -> None:
    """A zip member that escapes or names a blocked entry is refused; nothing is written."""
    archive = make_zip(tmp_path / "slip.zip", {"src/ok.ts": b"ok", name: b"pwned"})
    assert _refused(archive, workdir).reason == "unsafe_path"
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    "name", ["../evil.txt", "/tmp/evil.txt", "src/../../evil.txt", "node_modules/x.js"]
)
def test_tar_slip_refused(tmp_path: Path, workdir: Path, name: str) -> None:
    """A tar member that escapes or names a blocked entry is refused."""
    archive = make_tar(
        tmp_path / "slip.tar.gz", [tar_file("src/ok.ts", b"ok"), tar_file(name, b"pwned")]
    )
    error = _refused(archive, workdir)
    assert error.reason == "unsafe_path" and error.path_reason
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (tar_special("src/link", tarfile.SYMTYPE, "/etc/passwd"), "symlink_member"),
        (tar_special("src/hard", tarfile.LNKTYPE, "src/ok.ts"), "hardlink_member"),
        (tar_special("src/tty", tarfile.CHRTYPE), "device_member"),
        (tar_special("src/disk", tarfile.BLKTYPE), "device_member"),
        (tar_special("src/pipe", tarfile.FIFOTYPE), "fifo_member"),
    ],
)
def test_tar_special_members_refused(
    tmp_path: Path, workdir: Path, member: tuple[tarfile.TarInfo, None], reason: str
) -> None:
    """Symlinks, hardlinks, devices and FIFOs in a tar are refused."""
    archive = make_tar(tmp_path / "special.tar.gz", [tar_file("src/ok.ts", b"ok"), member])
    assert _refused(archive, workdir).reason == reason


def test_zip_symlink_member_refused(tmp_path: Path, workdir: Path) -> None:
    """A zip entry whose Unix mode marks it as a symlink is refused."""
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("src/link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    assert _refused(archive, workdir).reason == "symlink_member"


def test_existing_symlink_in_workdir_cannot_redirect_writes(tmp_path: Path, workdir: Path) -> None:
    """A symlink already in the workdir pointing outside is never written through."""
    # Given src/ in the working directory is a symlink to a folder outside it
    outside = tmp_path / "outside"
    outside.mkdir()
    (workdir / "src" / "old.ts").unlink()
    (workdir / "src").rmdir()
    (workdir / "src").symlink_to(outside, target_is_directory=True)
    # When an archive with src/evil.js is restored
    archive = make_zip(tmp_path / "v.zip", {"src/evil.js": b"pwned"})
    restore_archive(archive, workdir, PROJECT)
    # Then the file lands in a real src/ folder and nothing appears outside
    assert list(outside.iterdir()) == []
    assert not (workdir / "src").is_symlink()
    assert (workdir / "src" / "evil.js").read_bytes() == b"pwned"


def test_symlinked_workdir_refused(tmp_path: Path, workdir: Path) -> None:
    """A working directory that is itself a symlink is refused, not swapped."""
    link = tmp_path / "linked"
    link.symlink_to(workdir, target_is_directory=True)
    archive = make_zip(tmp_path / "v.zip", {"src/a.ts": b"a"})
    with pytest.raises(RestoreRefused) as info:
        restore_archive(archive, link, PROJECT)
    assert info.value.reason == "workdir_invalid" and link.is_symlink()


# --- bombs and limits ----------------------------------------------------------------------


def test_zip_bomb_refused_by_ratio(tmp_path: Path, workdir: Path) -> None:
    """A tiny zip that inflates a thousandfold is refused before anything is written."""
    archive = make_zip(tmp_path / "bomb.zip", {"src/zeros.bin": bytes(8 * 1024 * 1024)})
    assert archive.stat().st_size < 64 * 1024
    assert _refused(archive, workdir).reason == "ratio"


def test_zip_with_lying_size_header_refused(tmp_path: Path, workdir: Path) -> None:
    """Headers that understate the size do not help: the stream is counted and checked."""
    archive = make_zip(tmp_path / "liar.zip", {"src/zeros.bin": bytes(4 * 1024 * 1024)})
    data = bytearray(archive.read_bytes())
    struct.pack_into("<I", data, 22, 100)  # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)  # central directory: uncompressed size
    archive.write_bytes(bytes(data))
    assert _refused(archive, workdir).reason in {"corrupt", "ratio"}


def test_tar_gz_bomb_refused_while_streaming(tmp_path: Path, workdir: Path) -> None:
    """A gzip stream that inflates far beyond its size is cut off by the ratio check."""
    archive = make_tar(tmp_path / "bomb.tar.gz", [tar_file("src/zeros.bin", bytes(8 * 2**20))])
    assert _refused(archive, workdir).reason == "ratio"


def test_too_many_files_refused(tmp_path: Path, workdir: Path) -> None:
    """More entries than the limit allows is refused."""
    archive = make_zip(tmp_path / "many.zip", {f"src/f{i}.ts": b"x" for i in range(6)})
    assert _refused(archive, workdir, RestoreLimits(max_files=5)).reason == "too_many_files"


def test_total_size_limit_refused(tmp_path: Path, workdir: Path) -> None:
    """Uncompressed bytes beyond max_total_bytes are refused."""
    archive = make_zip(
        tmp_path / "big.zip", {"src/a.bin": os.urandom(3000), "src/b.bin": os.urandom(3000)}
    )
    limits = RestoreLimits(max_total_bytes=5000)
    assert _refused(archive, workdir, limits).reason == "too_large"


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda p: make_zip(p / "dup.zip", {"src/a.ts": b"1", "src//a.ts": b"2"}), "unsafe_path"),
        (
            lambda p: make_tar(
                p / "dup.tar.gz", [tar_file("src/a.ts", b"1"), tar_file("src/a.ts", b"2")]
            ),
            "duplicate_member",
        ),
        (
            lambda p: make_tar(
                p / "clash.tar.gz", [tar_file("src/a", b"1"), tar_file("src/a/b.ts", b"2")]
            ),
            "path_conflict",
        ),
        (
            lambda p: (p / "junk.zip").write_bytes(b"not an archive at all") and p / "junk.zip",
            "unknown_format",
        ),
        (lambda p: make_zip(p / "empty.zip", {"src/": b""}), "empty_archive"),
        (
            lambda p: make_zip(p / "bz.zip", {"src/a.ts": b"a"}, zipfile.ZIP_BZIP2),
            "unsupported_compression",
        ),
    ],
)
def test_refused_archive_leaves_workdir_untouched(
    tmp_path: Path, workdir: Path, build: Callable[[Path], Path], reason: str
) -> None:
    """Whatever the refusal, the working directory keeps every name and byte it had."""
    assert _refused(build(tmp_path), workdir).reason == reason


def test_refusal_midway_leaves_workdir_untouched(tmp_path: Path, workdir: Path) -> None:
    """A bad member after good ones (already extracted to staging) still changes nothing."""
    archive = make_tar(
        tmp_path / "late.tar.gz",
        [
            *(tar_file(n, d) for n, d in GOOD_FILES.items()),
            tar_special("src/x", tarfile.SYMTYPE, "/"),
        ],
    )
    assert _refused(archive, workdir).reason == "symlink_member"


# --- task payload ----------------------------------------------------------------------------


def test_restore_payload_accepts_a_plain_request() -> None:
    """A UUID, an archive key and an absolute workdir make a valid payload."""
    payload = RestorePayload.model_validate(
        {"project_id": PROJECT, "archive_key": "versions/p/v3.zip", "workdir": "/srv/p/work"}
    )
    assert str(payload.project_id) == PROJECT


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"project_id": "not-a-uuid"},
        {"archive_key": "../../etc/passwd"},
        {"archive_key": "a\x00b"},
        {"workdir": "relative/dir"},
        {"workdir": "/srv/../etc"},
        {"workdir": "/"},
    ],
)
def test_restore_payload_refuses_bad_fields(change: dict[str, object]) -> None:
    """Unknown fields, non-UUID ids, traversal in keys and non-absolute workdirs are refused."""
    base = {"project_id": PROJECT, "archive_key": "versions/p/v3.zip", "workdir": "/srv/p/work"}
    with pytest.raises(ValidationError):
        RestorePayload.model_validate({**base, **change})
