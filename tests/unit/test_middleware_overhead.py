"""sheen_middleware_overhead_seconds: the pipeline's time outside the task body, per execution."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from sheen import metrics
from sheen.settings import Settings
from workers.context import RunContext
from workers.middleware import CallNext, Middleware
from workers.pipeline import run_pipeline


@dataclass
class Ctx:
    job: str = "bench.overhead"
    settings: Settings = field(default_factory=Settings)


class Slow(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        time.sleep(0.004)
        return call_next()


def observed() -> tuple[float, float]:
    count = total = 0.0
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.labels.get("job") != "bench.overhead":
                continue
            if sample.name == "sheen_middleware_overhead_seconds_count":
                count += sample.value
            elif sample.name == "sheen_middleware_overhead_seconds_sum":
                total += sample.value
    return count, total


def test_overhead_excludes_the_task_body() -> None:
    """A 4 ms middleware around a 30 ms body is observed as about 4 ms, once."""
    # Given a pipeline of one slow middleware and a slow body
    count0, sum0 = observed()
    # When it runs once
    result = run_pipeline(Ctx(), lambda: time.sleep(0.03) or "done", (Slow(),))  # type: ignore[arg-type]
    # Then one observation of about the middleware's time, not the body's
    count1, sum1 = observed()
    assert result == "done"
    assert count1 == count0 + 1
    assert 0.003 < sum1 - sum0 < 0.02


def test_overhead_is_observed_when_the_body_raises() -> None:
    """A failing execution is measured too: its overhead is observed before the error propagates."""
    # Given a body that fails
    count0, _ = observed()

    def boom() -> None:
        raise RuntimeError("boom")

    # When it runs / Then the error propagates and one observation is made
    with pytest.raises(RuntimeError):
        run_pipeline(Ctx(), boom, (Slow(),))  # type: ignore[arg-type]
    assert observed()[0] == count0 + 1
