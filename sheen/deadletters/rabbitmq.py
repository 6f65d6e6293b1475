"""RabbitDeadLetters: the dead-letter queue as a RabbitMQ quorum queue, read without consuming it.

Storage is the `dead_letters` quorum queue bound to the `sheen.dead_letters` exchange,
nothing beside it. Two kinds of message arrive there:

* letters the fleet publishes (`add`, with publisher confirms): the body is the
  letter's JSON, the headers carry its id, job and time, exactly as on Redis;
* task messages RabbitMQ dead-letters by itself (`x-death` header): past the task
  queue's `x-delivery-limit` (a poison pill that kept killing its consumer before the
  fleet's own counter could refuse it), or expired. They read as letters too.

Reads browse: one channel consumes every message without acknowledging it and then
closes, which returns them all, so list and show never remove anything. A browse
costs O(letters) (measured in docs/benchmarks.md); requeue and purge acknowledge the
chosen messages during the same pass. A letter's id is its task id: copies of one id
read as one letter, and requeue or purge handles every copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from kombu import Connection, Consumer, Producer
from kombu.message import Message

from sheen.broker import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, dead_letter_queue, task_queue
from sheen.deadletters.letter import DeadLetter
from sheen.deadletters.registry import RequeueResult
from sheen.deadletters.requeue import task_envelope

Progress = Callable[[int], None]
LETTER_HEADER = "sheen_letter"
# RabbitMQ's dead-lettering reasons -> ours.
NATIVE_REASONS = {"delivery_limit": "worker_lost", "expired": "expired", "rejected": "permanent"}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _native_letter(message: Message) -> DeadLetter:
    """A task message RabbitMQ dead-lettered itself, read as a letter."""
    headers = dict(message.headers or {})
    deaths = headers.get("x-death") or [{}]
    death = deaths[0]
    why = _text(death.get("reason", "rejected"))
    at = death.get("time")
    when = at.timestamp() if isinstance(at, datetime) else time.time()
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    body: str | None = None
    try:
        decoded = json.loads(message.body)
        args, kwargs = list(decoded[0]), dict(decoded[1])
    except (ValueError, TypeError, IndexError, KeyError):
        body = _text(message.body)[:4000]
    count = int(death.get("count") or 1)
    limit = int(headers.get("x-delivery-count") or 0)
    return DeadLetter(
        id=str(headers.get("id") or message.properties.get("message_id") or message.delivery_tag),
        task_id=headers.get("id"),
        task=str(headers.get("task") or "unknown"),
        reason=NATIVE_REASONS.get(why, "permanent") if body is None else "undecodable",
        args=args,
        kwargs=kwargs,
        headers=headers,
        queue=_text(death.get("queue") or "jobs"),
        exc_type={"delivery_limit": "DeliveryLimitExceeded", "expired": "Expired"}.get(
            why, "Rejected"
        ),
        exc_message=f"dead-lettered by RabbitMQ: {why} (x-delivery-count {limit}, x-death {count})",
        attempts=max(limit, 1),
        first_failed_at=when,
        last_failed_at=when,
        dead_lettered_at=when,
        body=body,
    )


def decode(message: Message) -> DeadLetter:
    headers = message.headers or {}
    if headers.get(LETTER_HEADER):
        return DeadLetter.from_dict(json.loads(message.body))
    return _native_letter(message)


def _summary(message: Message) -> tuple[str, str, float]:
    """(id, job, dead-lettered at) from the headers alone when the fleet wrote the letter."""
    headers = message.headers or {}
    if headers.get(LETTER_HEADER):
        return (
            str(headers["dead_letter_id"]),
            str(headers["job"]),
            float(headers["dead_lettered_at"]),
        )
    letter = _native_letter(message)
    return letter.id, letter.job, letter.dead_lettered_at


class RabbitDeadLetters:
    """Add, read, requeue and purge dead letters on RabbitMQ (same interface as on Redis)."""

    def __init__(self, url: str, timeout: float = 10.0, delivery_limit: int = 5) -> None:
        self.url = url
        self.timeout = timeout
        self.delivery_limit = delivery_limit
        self._conn: Connection | None = None
        self._pid = 0

    def _connect(self) -> Connection:
        return Connection(
            self.url,
            connect_timeout=self.timeout,
            heartbeat=0,
            transport_options={"confirm_publish": True},
        )

    def _shared(self) -> Connection:
        """This process's publishing connection (a forked child opens its own)."""
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid = self._connect(), os.getpid()
        return self._conn

    # -- writing -----------------------------------------------------------------------------

    def add(self, letter: DeadLetter) -> bool:
        """Publish `letter` (confirmed by the broker). Copies of one id read as one letter."""
        headers = {
            LETTER_HEADER: 1,
            "job": letter.job,
            "reason": letter.reason,
            "dead_letter_id": letter.id,
            "dead_lettered_at": letter.dead_lettered_at,
        }
        for attempt in (1, 2):
            try:
                conn = self._shared()
                Producer(conn.default_channel).publish(
                    letter.to_json(),
                    exchange=DEAD_LETTER_EXCHANGE,
                    routing_key=DEAD_LETTER_QUEUE,
                    headers=headers,
                    message_id=letter.id,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    declare=[dead_letter_queue("rabbitmq")],
                )
                return True
            except (OSError, conn.connection_errors, conn.channel_errors):
                self._drop()
                if attempt == 2:
                    raise
        return True  # pragma: no cover

    def _drop(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):  # closing a broken connection may fail again
                self._conn.release()
        self._conn = None

    def remove(self, ids: Iterable[str]) -> int:
        return self.purge(ids)

    def purge(self, ids: Iterable[str]) -> int:
        """Delete letters for good; returns how many existed."""
        wanted = set(ids)
        found: set[str] = set()

        def handle(message: Message) -> None:
            letter_id = _summary(message)[0]
            if letter_id in wanted:
                found.add(letter_id)
                message.ack()

        self._browse(handle)
        return len(found)

    def purge_jobs(self, jobs_by_id: dict[str, str]) -> int:
        return self.purge(jobs_by_id)

    def requeue(
        self, ids: Iterable[str], dry_run: bool = False, progress: Progress | None = None
    ) -> RequeueResult:
        """Publish each letter's task back to its queue (confirmed), then acknowledge the letter.

        Same message as on Redis: a new task id, the idempotency key, trace id and send
        time kept, `dead_letter_id` linking back. Publish before acknowledge: a crash in
        between leaves a letter that may be requeued again, harmlessly.
        """
        order = list(dict.fromkeys(ids))
        wanted = set(order)
        result = RequeueResult()
        done: set[str] = set()
        seen_queues: set[str] = set()
        now = time.time()
        with self._connect() as out:
            producer = Producer(out.default_channel)

            def handle(message: Message) -> None:
                letter_id = _summary(message)[0]
                if letter_id not in wanted:
                    return
                letter = decode(message)
                if letter.body is not None:
                    return  # never was a task: stays, reported missing
                if letter_id not in done:
                    done.add(letter_id)
                    result.jobs[letter_id] = letter.job
                    if not dry_run:
                        self._ensure_queue(out, letter.queue, seen_queues)
                        self._publish_task(producer, letter, now)
                if not dry_run:
                    message.ack()

            self._browse(handle)
        result.requeued = [i for i in order if i in done]
        result.missing = [i for i in order if i not in done]
        if progress:
            progress(len(order))
        return result

    def _ensure_queue(self, conn: Connection, name: str, seen: set[str]) -> None:
        if name in seen:
            return
        task_queue(name, "rabbitmq", self.delivery_limit)(conn.default_channel).declare()
        seen.add(name)

    @staticmethod
    def _publish_task(producer: Producer, letter: DeadLetter, now: float) -> None:
        envelope = json.loads(task_envelope(letter.to_dict(), now))
        properties = envelope["properties"]
        producer.publish(
            envelope["body"],
            exchange="",
            routing_key=letter.queue,
            headers=envelope["headers"],
            correlation_id=properties["correlation_id"],
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )

    def jobs_of(self, ids: Iterable[str]) -> dict[str, str]:
        wanted = set(ids)
        return {i: job for i, job, _ in self._summaries() if i in wanted}

    # -- reading -----------------------------------------------------------------------------

    def _browse(self, handle: Callable[[Message], None]) -> int:
        """Hand every message on the queue to `handle`; unacknowledged ones go back on close."""
        with self._connect() as conn:
            channel = conn.channel()
            queue = dead_letter_queue("rabbitmq")(channel)
            queue.declare()
            _, ready, _ = queue.queue_declare(passive=True)
            if not ready:
                return 0
            seen = 0

            def on_message(message: Message) -> None:
                nonlocal seen
                seen += 1
                handle(message)

            channel.basic_qos(0, 0, False)
            consumer = Consumer(channel, [queue], on_message=on_message, no_ack=False)
            with consumer:
                while seen < ready:
                    try:
                        conn.drain_events(timeout=min(self.timeout, 2.0))
                    except TimeoutError:
                        break  # fewer than counted (another reader holds some): done
            channel.close()  # returns every message not acknowledged
            return seen

    def _letters(self) -> dict[str, DeadLetter]:
        letters: dict[str, DeadLetter] = {}

        def handle(message: Message) -> None:
            letter = decode(message)
            letters.setdefault(letter.id, letter)

        self._browse(handle)
        return letters

    def _summaries(self) -> list[tuple[str, str, float]]:
        found: dict[str, tuple[str, str, float]] = {}

        def handle(message: Message) -> None:
            summary = _summary(message)
            found.setdefault(summary[0], summary)

        self._browse(handle)
        return list(found.values())

    def get(self, letter_id: str) -> DeadLetter | None:
        found: list[DeadLetter] = []

        def handle(message: Message) -> None:
            if not found and _summary(message)[0] == letter_id:
                found.append(decode(message))

        self._browse(handle)
        return found[0] if found else None

    def __len__(self) -> int:
        return len(self._summaries())

    def __contains__(self, letter_id: object) -> bool:
        return str(letter_id) in {s[0] for s in self._summaries()}

    def count_by_job(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, job, _ in self._summaries():
            counts[job] = counts.get(job, 0) + 1
        return counts

    def ids(
        self,
        job: str | None = None,
        since: float | datetime | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Letter ids newest first; `since` is a datetime or epoch seconds."""
        if isinstance(since, datetime):
            since = since.timestamp()
        chosen = [
            s
            for s in self._summaries()
            if (job is None or s[1] == job) and (since is None or s[2] >= since)
        ]
        chosen.sort(key=lambda s: s[2], reverse=True)
        return [s[0] for s in chosen[:limit] if s] if limit is not None else [s[0] for s in chosen]

    def _sorted(self) -> list[DeadLetter]:
        return sorted(self._letters().values(), key=lambda x: x.dead_lettered_at, reverse=True)

    def latest(self, n: int = 20) -> list[DeadLetter]:
        return self._sorted()[: max(n, 1)]

    def between(self, start: float, end: float) -> Iterator[DeadLetter]:
        """Letters dead-lettered in [start, end), oldest first."""
        yield from reversed([x for x in self._sorted() if start <= x.dead_lettered_at < end])

    def oldest(self) -> DeadLetter | None:
        letters = self._sorted()
        return letters[-1] if letters else None

    def queue_length(self) -> int:
        """Ready messages on the broker queue (copies and unread native letters included)."""
        with self._connect() as conn:
            queue = dead_letter_queue("rabbitmq")(conn.default_channel)
            queue.declare()
            return int(queue.queue_declare(passive=True)[1])

    def declare(self, broker_url: str) -> None:
        """Declare the durable exchange and quorum queue (idempotent)."""
        with Connection(broker_url, connect_timeout=self.timeout) as conn:
            dead_letter_queue("rabbitmq")(conn.default_channel).declare()

    # Last in the class: its name would shadow the builtin in later annotations.
    def list(
        self, job: str | None = None, since: float | datetime | None = None, limit: int | None = 100
    ) -> list[DeadLetter]:
        """Letters newest first, of one job and/or dead-lettered at or after `since`."""
        if isinstance(since, datetime):
            since = since.timestamp()
        chosen = [
            x
            for x in self._sorted()
            if (job is None or x.job == job) and (since is None or x.dead_lettered_at >= since)
        ]
        return chosen[:limit] if limit is not None else chosen
