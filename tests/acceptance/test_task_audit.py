"""Lost-task accounting on both brokers: nothing missing after a crash, the right id when lost."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
import redis
from click.testing import CliRunner
from kombu import Connection

from sheen.cli.main import _register, cli
from sheen.ledger.ledger import OPEN
from sheen.settings import load_settings
from tests.rabbitmq_support import rabbit_app, rabbit_env, rabbitmq  # noqa: F401  (fixtures)
from tests.reliability_support import PROBES, clear_broker, state, wait_until

GRACE = 12  # max(visibility timeout 12 s, hard limits 9.15 s at scale 0.005) + margin 0


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request, services, db):
    """(broker URL, publishing app, env for workers) on Redis or on this run's RabbitMQ vhost."""
    if request.param == "redis":
        clear_broker(services)
        app = request.getfixturevalue("celery_app")
        return services.broker_url, app, {}
    vhost = request.getfixturevalue("rabbitmq")
    vhost.clear()
    return vhost.url, request.getfixturevalue("rabbit_app"), rabbit_env(vhost)


@pytest.fixture
def audit(monkeypatch):
    """`sheen-ops jobs audit --json` in process, with a 12 s grace, on the given broker."""

    def run(broker_url: str, *args: str) -> tuple[int, dict]:
        monkeypatch.setenv("SHEEN_BROKER_URL", broker_url)
        monkeypatch.setenv("SHEEN_VISIBILITY_TIMEOUT_SECONDS", str(GRACE))
        monkeypatch.setenv("SHEEN_TIME_LIMIT_SCALE", "0.005")
        monkeypatch.setenv("SHEEN_AUDIT_MARGIN_SECONDS", "0")
        load_settings.cache_clear()
        _register()
        result = CliRunner().invoke(cli, ["jobs", "audit", "--json", *args])
        return result.exit_code, json.loads(result.output)

    yield run
    monkeypatch.undo()
    load_settings.cache_clear()


def _blocked_on_lock(services) -> bool:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        ).fetchone()
    return bool(row and row[0])


def _delete_from_broker(url: str, task_id: str) -> None:
    """Drop one task's message from the `jobs` queue, as a broker losing it would."""
    if url.startswith("redis"):
        client = redis.Redis.from_url(url)
        for raw in client.lrange("jobs", 0, -1):
            if json.loads(raw)["headers"]["id"] == task_id:
                assert client.lrem("jobs", 1, raw) == 1
                return
        raise AssertionError(f"{task_id} not on the queue")
    with Connection(url) as conn:
        channel = conn.channel()
        while (message := channel.basic_get("jobs", no_ack=False)) is not None:
            if message.headers["id"] == task_id:
                channel.basic_ack(message.delivery_tag)
                channel.close()  # the others go back
                return
        raise AssertionError(f"{task_id} not on the queue")


def test_audit_finds_nothing_missing_after_a_child_is_killed(broker, services, start_worker, audit):
    """A pool child SIGKILLed mid-task: the task is redelivered and done; the audit lists none."""
    # Given a worker whose task blocks mid-run on the test's lock
    url, app, env = broker
    lock = psycopg.connect(services.database_url, autocommit=True)
    lock.execute("SELECT pg_advisory_lock(7003)")
    worker = start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=PROBES, **env)
    result = app.send_task("probe.effect", kwargs={"name": "audit-kill", "lock": 7003})
    wait_until(lambda: _blocked_on_lock(services), 30, "the task to block on the lock")
    # When its child is SIGKILLed, and the redelivery completes
    [child] = worker.children()
    child.kill()
    wait_until(lambda: state(services).llen("probe:started:audit-kill") == 2, 30, "redelivery")
    lock.close()
    assert result.get(timeout=30) == {"effects": 1}
    # Then nothing stays open (both deliveries' ends closed the one task id): nothing missing
    wait_until(lambda: state(services).zcard(OPEN) == 0, 10, "the ledger to close the task")
    code, report = audit(url)
    assert (code, report["missing"], report["open_tasks"]) == (0, [], 0)


def test_audit_lists_the_ids_of_messages_the_broker_lost(broker, services, start_worker, audit):
    """Three tasks sent, one deleted from the broker: past the grace the audit names only it."""
    # Given three tasks sent while no worker runs, and one of them deleted from the queue
    url, app, env = broker
    sent = [app.send_task("probe.effect", kwargs={"name": f"lost{n}"}) for n in range(3)]
    time.sleep(0.5)
    _delete_from_broker(url, sent[1].id)
    # When a worker runs the two left
    start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=PROBES, **env)
    for result in (sent[0], sent[2]):
        assert result.get(timeout=30) == {"effects": 1}
    # Then before the grace nothing is reported yet; after it, exactly the deleted id (exit 1)
    code, early = audit(url)
    assert (code, early["missing"], early["open_tasks"]) == (0, [], 1)
    wait_until(lambda: audit(url)[0] == 1, GRACE + 10, "the lost task to be overdue")
    code, report = audit(url, "--since", "1h")
    assert [(m["task_id"], m["task"]) for m in report["missing"]] == [(sent[1].id, "probe.effect")]
