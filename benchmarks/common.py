"""Shared pieces of the benchmarks: the service URLs and a printable figure."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sheen.embedded import EmbeddedPostgres


@dataclass
class BenchEnv:
    redis_base: str
    database_url: str
    tmp: Path
    postgres: EmbeddedPostgres

    def environ(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHEEN_")}
        env.update(
            SHEEN_ENV="ci",
            SHEEN_BROKER_URL=f"{self.redis_base}/0",
            SHEEN_REDIS_URL=f"{self.redis_base}/1",
            SHEEN_DATABASE_URL=self.database_url,
            SHEEN_STATE_DIR=str(self.tmp / "state"),
            SHEEN_LOG_LEVEL="WARNING",
        )
        env.update(overrides)
        return env


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    note: str = ""

    def line(self) -> str:
        note = f"  ({self.note})" if self.note else ""
        return f"{self.name:<48} {self.value:>14,.2f} {self.unit}{note}"
