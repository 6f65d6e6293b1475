"""`sheen-ops dlq` end to end: a failed task is listed, shown, requeued, runs once, and audited."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from sheen.cli.main import _register, cli
from tests.reliability_support import PROBES, clear_broker, dlq, letter_for, runs, state, wait_until


@pytest.fixture
def ops():
    _register()
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


def test_requeue_round_trip_runs_once_even_when_requeued_twice(
    db, services, start_worker, celery_app, ops
):
    """Dead-lettered, listed, shown, fixed, requeued twice: the task runs once, both audited."""
    # Given a probe that is broken, so its task is dead-lettered
    clear_broker(services)
    start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=PROBES)
    state(services).set("probe:broken:rt", 1)
    failed = celery_app.send_task("probe.effect", kwargs={"name": "rt"})
    letter = letter_for(services, failed.id)
    # When the operator lists and shows it
    listed = ops("dlq", "list", "--json", "--since", "1h")
    shown = ops("dlq", "show", failed.id)
    # Then
    data = json.loads(listed.output)
    assert [x["id"] for x in data["letters"]] == [failed.id]
    assert data["count_by_job"] == {"probe.effect": 1}
    assert "RuntimeError" in shown.output and "probe rt is broken" in shown.output
    assert "Traceback" in shown.output
    # When the probe is fixed and the letter requeued
    state(services).delete("probe:broken:rt")
    requeued = ops("dlq", "requeue", failed.id)
    assert requeued.exit_code == 0 and "requeued 1, failed 0" in requeued.output
    wait_until(lambda: state(services).get("probe:effect:rt"), 30, "the requeued run")
    # And the same letter reaches the queue a second time (a second copy, requeued again)
    dlq(services).add(letter)
    assert ops("dlq", "requeue", "--all").exit_code == 0
    wait_until(lambda: len(runs(db, "probe.effect")) == 3, 30, "the second requeued delivery")
    # Then the effect happened once; the second delivery was a recorded skip
    assert int(state(services).get("probe:effect:rt")) == 1
    assert [r["status"] for r in runs(db, "probe.effect")] == ["failure", "success", "skipped"]
    assert len(dlq(services)) == 0
    with db.connect() as conn:
        audit = conn.execute(text("SELECT action, letter_id FROM dead_letter_audit")).all()
    assert audit == [("requeue", failed.id), ("requeue", failed.id)]


def test_bulk_commands_report_and_fail_on_missing_letters(db, services, ops):
    """Requeue of an unknown id exits 1 with a summary; purge --all needs --yes and is audited."""
    # Given
    clear_broker(services)
    from sheen.deadletters import DeadLetter

    for n in range(3):
        dlq(services).add(DeadLetter(id=f"l{n}", task="jobs.x", reason="permanent"))
    # When / Then
    missing = ops("dlq", "requeue", "nope")
    assert missing.exit_code == 1 and "requeued 0, failed 1 (not found: nope)" in missing.output
    dry = ops("dlq", "requeue", "--job", "jobs.x", "--dry-run")
    assert dry.exit_code == 0 and "would requeue 3, failed 0" in dry.output
    refused = ops("dlq", "purge", "--all")
    assert refused.exit_code == 2 and len(dlq(services)) == 3
    purged = ops("dlq", "purge", "--all", "--yes")
    assert purged.exit_code == 0 and "purged 3, failed 0" in purged.output
    assert len(dlq(services)) == 0 and dlq(services).queue_length() == 0
    with db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM dead_letter_audit WHERE action = 'purge'")
            ).scalar_one()
            == 3
        )
    assert ops("dlq", "list").output.strip().endswith("0 shown of 0 dead letters (none)")
