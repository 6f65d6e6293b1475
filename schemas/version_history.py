"""Payload of the `version_history.restore` task: what to restore, and where."""

from __future__ import annotations

from pathlib import PurePosixPath
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RestorePayload(BaseModel):
    """A restore request; the archive key and workdir are checked here, member paths later."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_id: UUID
    archive_key: str = Field(min_length=1, max_length=1024)
    workdir: str = Field(min_length=2, max_length=4096)

    @field_validator("archive_key")
    @classmethod
    def _archive_key(cls, value: str) -> str:
        if "\x00" in value or any(ord(ch) < 0x20 for ch in value):
            raise ValueError("archive_key must not contain control characters")
        if ".." in PurePosixPath(value.replace("\\", "/")).parts:
            raise ValueError("archive_key must not contain '..' segments")
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str) -> str:
        if "\x00" in value or "\\" in value:
            raise ValueError("workdir must be a POSIX path without NUL or backslashes")
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts or path == PurePosixPath("/"):
            raise ValueError("workdir must be an absolute path below / without '..'")
        return value
