"""A worker refuses, at start-up with exit 2 and one line, configurations that break delivery."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("pool", "env", "needle"),
    [
        ("prefork", {"SHEEN_VISIBILITY_TIMEOUT_SECONDS": "930"}, "must be longer than the longest"),
        (
            "prefork",
            {"SHEEN_RETRY_BACKOFF_MAX_SECONDS": "3600"},
            "SHEEN_RETRY_BACKOFF_MAX_SECONDS=3600 (x scale 1 = 3600 s) must be shorter",
        ),
        (
            "prefork",
            {"SHEEN_DONE_KEY_RETENTION_SECONDS": "3600"},
            "SHEEN_DONE_KEY_RETENTION_SECONDS=3600 must be at least",
        ),
        ("solo", {}, "pool 'solo' cannot enforce time limits"),
        ("threads", {}, "pool 'thread' cannot enforce time limits"),
        (
            "prefork",
            {"SHEEN_EXTRA_TASK_MODULES": "tests.probes.unsafe"},
            "probe.unsafe_ack acks late without reject_on_worker_lost",
        ),
    ],
    ids=[
        "visibility-timeout",
        "backoff-cap",
        "done-key-retention",
        "solo",
        "threads",
        "late-ack-without-reject",
    ],
)
def test_unsafe_configuration_exits_2(services, start_worker, pool, env, needle):
    """Each unsafe configuration stops the worker before it consumes anything: exit 2, one line."""
    # When
    worker = start_worker(concurrency=1, pool=pool, wait=False, **env)
    code = worker.proc.wait(60)
    # Then
    assert code == 2, worker.log()[-2000:]
    lines = [x for x in worker.log().splitlines() if "unsafe worker configuration" in x]
    assert len(lines) == 1 and needle in lines[0]
    assert " ready." not in worker.log()
