"""Helpers for the trust & safety notification tests: a real SMTP server, users, pgserver."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text

from sheen.db.migrate import upgrade
from sheen.embedded import EmbeddedPostgres, free_port


@dataclass
class Mailbox:
    """What a real aiosmtpd server on 127.0.0.1 received; addresses it refuses or defers."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # 550 at RCPT
    defer: set[str] = field(default_factory=set)  # 451 at RCPT
    lock: threading.Lock = field(default_factory=threading.Lock)
    # set: a message is stored, then its 250 reply held back until cleared (a crash window)
    hold: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} messages after {timeout} s, wanted {count}")

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.box.refuse:
            return "550 5.1.1 mailbox unavailable"
        if address in self.box.defer:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.box.lock:
            self.box.messages.append(msg)  # type: ignore[arg-type]
        while self.box.hold.is_set():
            await asyncio.sleep(0.05)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def smtp_env(box: Mailbox, **extra: str) -> dict[str, str]:
    """Worker environment for the test SMTP server (quick retries)."""
    return {
        "SHEEN_SMTP_HOST": "127.0.0.1",
        "SHEEN_SMTP_PORT": str(box.port),
        "SHEEN_SMTP_TIMEOUT_SECONDS": "5",
        "SHEEN_APPEAL_BASE_URL": "https://app.example.test/appeal",
        **extra,
    }


def add_user(engine: Engine, address: str | None = None) -> uuid.UUID:
    uid = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO auth.users (id, email) VALUES (:id, :email)"),
            {
                "id": uid,
                "email": address if address is not None else f"u-{uid.hex[:8]}@example.test",
            },
        )
    return uid


def email_of(engine: Engine, user_id: uuid.UUID) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT email FROM auth.users WHERE id = :id"), {"id": user_id}
            ).scalar_one()
        )


def rows(engine: Engine, user_id: uuid.UUID) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT * FROM trust_safety_notifications WHERE user_id = :u ORDER BY created_at, id"
                ),
                {"u": user_id},
            ).mappings()
        ]


def pgserver_bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@contextmanager
def pgserver_database(tmp: Path) -> Iterator[str]:
    """A PostgreSQL from the pgserver wheel (no btree_gist), migrated; yields its libpq URL."""
    pg = EmbeddedPostgres(
        tmp / "pgserver", free_port(), database="sheen_embedded", durable=False,
        bin_dir=pgserver_bin_dir(),
    )  # fmt: skip
    pg.start()
    try:
        upgrade(pg.url.replace("postgresql://", "postgresql+psycopg://"))
        yield pg.url
    finally:
        pg.stop()


class Helpdesk:
    """A helpdesk webhook on 127.0.0.1 that records each POST (body and headers), answers 200."""

    def __init__(self) -> None:
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: list[tuple[dict[str, Any], dict[str, str]]] = []
        helpdesk = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                helpdesk.posts.append((json.loads(self.rfile.read(length)), dict(self.headers)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tickets"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def notify_kwargs(
    user_id: uuid.UUID, category: str = "account_warning", **extra: Any
) -> dict[str, Any]:
    return {"user_id": str(user_id), "category": category, **extra}


def appeal_link_token(msg: EmailMessage) -> str:
    """The token of the appeal link in a received notification e-mail."""
    import re
    from urllib.parse import parse_qs, urlsplit

    body = msg.get_content()
    match = re.search(r"https://app\.example\.test/appeal\?\S+", body)
    assert match, f"no appeal link in:\n{body}"
    return parse_qs(urlsplit(match.group(0)).query)["token"][0]
