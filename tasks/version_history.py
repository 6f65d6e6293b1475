"""version_history.restore: a stored version archive into a project's working directory.

The working directory must lie under SHEEN_WORKDIR_ROOT and the archive under
SHEEN_VERSION_ARCHIVE_DIR; member paths go through the path validator. One
restore per project at a time (a PostgreSQL advisory lock, released by the
server if the worker dies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from schemas.version_history import RestorePayload
from sheen.db.engine import get_engine
from sheen.errors import PayloadError, TransientError
from sheen.versions.restore import RestoreRefused, restore_archive
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class RestoreTask(FleetTask):
    payload_schema = RestorePayload
    expected_runtime_seconds = 60


def _inside(root: Path, candidate: Path, what: str) -> Path:
    root = root.resolve()
    resolved = candidate.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise PayloadError(f"{what} is outside its configured root")
    return resolved


@app.task(base=RestoreTask, name="version_history.restore", soft_time_limit=180, time_limit=210)
def restore(ctx: RunContext) -> dict[str, Any]:
    payload = ctx.payload_as(RestorePayload)
    settings = ctx.settings
    archive = _inside(
        settings.version_archive_dir,
        settings.version_archive_dir / payload.archive_key,
        "archive_key",
    )
    workdir = _inside(settings.workdir_root, Path(payload.workdir), "workdir")
    with get_engine(settings).connect() as conn:
        conn.execute(
            text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": f"restore:{payload.project_id}"}
        )
        try:
            result = restore_archive(archive, workdir, payload.project_id)
        except RestoreRefused as exc:
            if not exc.permanent:
                raise TransientError(str(exc)) from exc
            raise
        finally:
            conn.execute(
                text("SELECT pg_advisory_unlock(hashtext(:k))"),
                {"k": f"restore:{payload.project_id}"},
            )
            conn.commit()
    return {"files": result.files, "bytes": result.bytes, "kept": list(result.kept)}
