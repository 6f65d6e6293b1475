"""A final failure that cannot be dead-lettered is requeued, never acknowledged and lost."""

from __future__ import annotations

import pytest
from celery.exceptions import Reject

from sheen.embedded import free_port
from sheen.settings import load_settings
from workers.context import RunContext
from workers.middleware.dead_letters import DeadLetters


def test_unreachable_registry_rejects_with_requeue(services):
    """With the dead-letter registry unreachable, the failure becomes Reject(requeue=True)."""
    # Given a task execution whose dead-letter registry (the broker's Redis) is down
    from workers.app import app

    app.loader.import_default_modules()
    task = app.tasks["fleet.test_alert"]
    task.push_request(id="t-fallback", headers={}, delivery_info={"routing_key": "jobs"})
    try:
        ctx = RunContext.from_request(task, {"mode": "fail"})
        ctx.settings = load_settings().model_copy(
            update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"}
        )

        def body() -> None:
            raise ValueError("boom")

        # When the body fails for good
        with pytest.raises(Reject) as err:
            DeadLetters().around(ctx, body)
    finally:
        task.pop_request()
    # Then the message goes back to its queue
    assert err.value.requeue is True
    assert isinstance(err.value.__cause__, ValueError)
