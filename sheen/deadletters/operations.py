"""Operator actions on dead letters: the registry change plus its audit row, together.

Used by `sheen-ops dlq` (and open to the sidecar): requeue and purge work in
batches so 100,000 letters go through in seconds, reporting progress per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from sheen.deadletters import audit
from sheen.deadletters.registry import RequeueResult
from sheen.deadletters.store import DeadLetterStore

BATCH = 100_000  # letters per registry call (one queue rewrite each)
Progress = Callable[[int], None]


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.missing)


def requeue(
    registry: DeadLetterStore,
    engine: Engine,
    ids: list[str],
    actor: str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Requeue letters to their original queues; audit each one (not on a dry run)."""
    outcome = Outcome()
    for start in range(0, len(ids), BATCH):
        result: RequeueResult = registry.requeue(
            ids[start : start + BATCH], dry_run=dry_run, progress=progress
        )
        if not dry_run and result.requeued:
            audit.record(engine, "requeue", {i: result.jobs[i] for i in result.requeued}, actor)
        outcome.done.extend(result.requeued)
        outcome.missing.extend(result.missing)
    return outcome


def purge(
    registry: DeadLetterStore,
    engine: Engine,
    ids: list[str],
    actor: str,
    progress: Progress | None = None,
) -> Outcome:
    """Delete letters for good; audit each one that existed."""
    outcome = Outcome()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        jobs = registry.jobs_of(chunk)
        registry.purge_jobs(jobs)
        if jobs:
            audit.record(engine, "purge", jobs, actor)
        outcome.done.extend(jobs)
        outcome.missing.extend(i for i in chunk if i not in jobs)
        if progress:
            progress(len(chunk))
    return outcome
