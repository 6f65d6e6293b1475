"""Run every benchmark module (or those named on the command line) and print their figures.

Each module in this package that defines `run(env: BenchEnv) -> list[Figure]` is a
benchmark. They share one set of embedded services started here, so figures from
one run compare like with like.

    python -m benchmarks.run                 # all
    python -m benchmarks.run jobs ping       # some
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import benchmarks
from benchmarks.common import BenchEnv
from benchmarks.measure import format_load, load_average
from sheen.db.migrate import upgrade
from sheen.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from sheen.settings import load_settings


def _modules(names: list[str]) -> list[str]:
    found = [
        m.name
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name not in ("run", "common", "measure", "bare_app", "__main__")
        and not m.name.startswith("bare_")  # worker apps the benchmarks start, not benchmarks
    ]
    return [m for m in sorted(found) if not names or m in names]


def main(argv: list[str]) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sheen-bench-"))
    redis = EmbeddedRedis(tmp / "redis", free_port()).start()
    pg = EmbeddedPostgres(tmp / "pg", free_port(), database="bench").start()
    env = BenchEnv(redis_base=redis.url, database_url=pg.url, tmp=tmp, postgres=pg)
    os.environ.update(env.environ())
    load_settings.cache_clear()
    upgrade(load_settings().sqlalchemy_url)
    print(f"# sheen bench  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {platform.machine()} {os.cpu_count()} cores, {platform.platform()}")
    try:
        for name in _modules(argv):
            module = importlib.import_module(f"benchmarks.{name}")
            print(f"\n## {name}")
            print(f"# load average before: {format_load(load_average())}")
            for figure in module.run(env):
                print(figure.line())
            print(f"# load average after:  {format_load(load_average())}")
    finally:
        pg.stop()
        redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
