"""version_history.restore on a real worker: a good archive lands whole, a hostile one changes nothing."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def roots(tmp_path):
    archives, workdirs = tmp_path / "versions", tmp_path / "workdirs"
    archives.mkdir()
    workdirs.mkdir()
    return archives, workdirs


def test_restore_good_archive_and_refuse_zip_slip(db, roots, start_worker, celery_app):
    """A good archive is restored byte for byte; a zip-slip archive is refused and the tree is untouched."""
    archives, workdirs = roots
    start_worker(
        concurrency=1, SHEEN_VERSION_ARCHIVE_DIR=str(archives), SHEEN_WORKDIR_ROOT=str(workdirs)
    )
    project = uuid.uuid4()
    workdir = workdirs / str(project)
    workdir.mkdir()
    (workdir / ".env").write_bytes(b"SECRET=1\n")
    good = {
        "src/index.ts": b"export const a = 1;\n",
        "package.json": b'{"name": "site"}\n',
        "public/logo.svg": bytes(range(256)),
    }
    (archives / "v1.zip").write_bytes(_zip(good))
    (archives / "evil.zip").write_bytes(_zip({"src/ok.ts": b"1", "src/../../escape.txt": b"pwned"}))
    kwargs = {"project_id": str(project), "workdir": str(workdir)}

    value = celery_app.send_task(
        "version_history.restore", kwargs={**kwargs, "archive_key": "v1.zip"}
    ).get(timeout=60)
    assert value["files"] == 3
    restored = _tree(workdir)
    assert {k: v for k, v in restored.items() if k != ".env"} == good
    assert restored[".env"] == b"SECRET=1\n", (
        "blocked files of the old tree are kept, never overwritten"
    )

    before = _tree(workdir)
    with pytest.raises(Exception, match="restore refused"):
        celery_app.send_task(
            "version_history.restore", kwargs={**kwargs, "archive_key": "evil.zip"}
        ).get(timeout=60)
    assert _tree(workdir) == before
    assert not (workdirs / "escape.txt").exists()


def test_workdir_outside_the_root_is_refused(db, roots, start_worker, celery_app, tmp_path):
    """A workdir outside SHEEN_WORKDIR_ROOT is a payload error; nothing is written."""
    archives, workdirs = roots
    start_worker(
        concurrency=1, SHEEN_VERSION_ARCHIVE_DIR=str(archives), SHEEN_WORKDIR_ROOT=str(workdirs)
    )
    (archives / "v1.zip").write_bytes(_zip({"src/a.ts": b"1"}))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = celery_app.send_task(
        "version_history.restore",
        kwargs={"project_id": str(uuid.uuid4()), "workdir": str(outside), "archive_key": "v1.zip"},
    )
    with pytest.raises(Exception, match="outside its configured root"):
        result.get(timeout=60)
    assert list(outside.iterdir()) == []
