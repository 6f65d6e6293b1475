"""Named SQL: every query that matters lives in `sql/*.sql` under a `-- name:` header."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import TextClause, text

SQL_DIR = Path(__file__).with_name("sql")
_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def _load(area: str) -> dict[str, str]:
    source = (SQL_DIR / f"{area}.sql").read_text()
    parts = _HEADER.split(source)[1:]
    return {
        name: body.strip().rstrip(";") for name, body in zip(parts[::2], parts[1::2], strict=True)
    }


def query(area: str, name: str) -> TextClause:
    """The named query `name` from `sql/{area}.sql`, ready for bound parameters."""
    try:
        return text(_load(area)[name])
    except KeyError:
        raise KeyError(f"no query {name!r} in sql/{area}.sql") from None
