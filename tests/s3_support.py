"""A real S3 API for tests: moto in server mode over HTTP (boto3 unpatched), and a proxy
in front of it that fails chosen requests, as a flaky S3 would.

Import the fixtures into a test module: `from tests.s3_support import s3_fixture, ...`.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, text

from sheen.artifacts import Buckets, S3Store
from sheen.settings import Settings, parse_settings

HOT = "test-hot"
COLD = "test-cold"


@dataclass
class S3Server:
    """One moto server for the session; `reset()` empties it between tests."""

    url: str
    server: Any

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).read()  # noqa: S310  (our own http server)


@pytest.fixture(scope="session", name="moto_server")
def moto_server_fixture() -> Iterator[S3Server]:
    """moto's S3 API on a free port, in a thread of the test process (real HTTP)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}", server)
    server.stop()


def s3_env(url: str, **extra: str) -> dict[str, str]:
    """SHEEN_* variables pointing the fleet at this S3 endpoint and the test buckets."""
    return {
        "SHEEN_S3_ENDPOINT_URL": url,
        "SHEEN_S3_ACCESS_KEY_ID": "testing",
        "SHEEN_S3_SECRET_ACCESS_KEY": "testing",
        "SHEEN_ARTIFACT_HOT_BUCKET": HOT,
        "SHEEN_ARTIFACT_COLD_BUCKET": COLD,
        **extra,
    }


def settings_for(services: Any, url: str, **extra: str) -> Settings:
    return parse_settings(services.env(**s3_env(url, **extra)))


@dataclass
class S3Fixture:
    url: str
    services: Any
    settings: Settings
    store: S3Store
    buckets: Buckets

    def configured(self, url: str | None = None, **extra: str) -> tuple[Settings, S3Store]:
        """Settings and a store for another endpoint (a proxy) or other SHEEN_* values."""
        settings = settings_for(self.services, url or self.url, **extra)
        return settings, S3Store.from_settings(settings)

    def keys(self, bucket: str) -> set[str]:
        found: set[str] = set()
        for page in self.store.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update(obj["Key"] for obj in page.get("Contents", []))
        return found


@pytest.fixture(name="s3")
def s3_fixture(services: Any, moto_server: S3Server) -> Iterator[S3Fixture]:
    """An empty S3 (hot and cold buckets created) and settings/store pointing at it."""
    moto_server.reset()
    settings = settings_for(services, moto_server.url)
    store = S3Store.from_settings(settings)
    store.ensure_buckets(HOT, COLD)
    yield S3Fixture(moto_server.url, services, settings, store, Buckets(HOT, COLD))


def content(n: int | str) -> bytes:
    """64 KiB of bytes unique to `n`."""
    seed = hashlib.sha256(str(n).encode()).digest()
    return (seed * (65536 // len(seed) + 1))[:65536]


def seed_stored_artifacts(
    engine: Engine,
    store: S3Store,
    contents: list[bytes],
    created_at: datetime,
    soft_deleted_at: datetime | None = None,
) -> list[uuid.UUID]:
    """One artifact row (one build, one project) and one hot object per entry of `contents`."""
    ids = [uuid.uuid4() for _ in contents]
    with engine.begin() as conn:
        user = uuid.uuid4()
        conn.execute(text("INSERT INTO auth.users (id) VALUES (:u)"), {"u": user})
        for artifact_id, data in zip(ids, contents, strict=True):
            build = uuid.uuid4()
            conn.execute(
                text(
                    "INSERT INTO builds (id, project_id, user_id, status)"
                    " VALUES (:b, :p, :u, 'deployed')"
                ),
                {"b": build, "p": uuid.uuid4(), "u": user},
            )
            key = f"artifacts/{build}/{artifact_id}.tar"
            digest = store.put(HOT, key, data)
            conn.execute(
                text(
                    "INSERT INTO build_artifacts (id, project_id, build_id, storage_key, sha256,"
                    " size_bytes, created_at, soft_deleted_at)"
                    " SELECT :id, project_id, id, :key, :sha, :size, :created, :deleted"
                    " FROM builds WHERE id = :b"
                ),
                {
                    "id": artifact_id,
                    "key": key,
                    "sha": digest,
                    "size": len(data),
                    "created": created_at,
                    "deleted": soft_deleted_at,
                    "b": build,
                },
            )
    return ids


def artifact(engine: Engine, artifact_id: uuid.UUID) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT * FROM build_artifacts WHERE id = :id"), {"id": artifact_id}
        ).one()


# ------------------------------------------------------------------ a flaky S3 in front


@dataclass
class FlakyProxy:
    """An HTTP proxy to `target` that answers 503 to requests matching a rule.

    `fail(predicate, times)` makes the next `times` matching requests fail (None: all of
    them until `heal()`); `failed` counts the requests it failed.
    """

    target_host: str
    target_port: int
    rules: list[list[Any]] = field(default_factory=list)
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    holding: Callable[[str, str], bool] | None = None
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, predicate: Callable[[str, str], bool], times: int | None = None) -> None:
        with self.lock:
            self.rules.append([predicate, times])

    def heal(self) -> None:
        with self.lock:
            self.rules.clear()

    def hold(self, predicate: Callable[[str, str], bool]) -> threading.Event:
        """Hold matching requests until `release()`; the returned event is set once one is held."""
        self.holding = predicate
        return self.held

    def release(self) -> None:
        """Let requests through again; a request held until now is answered 503, not forwarded."""
        self.holding = None
        self.released.set()

    def maybe_hold(self, method: str, path: str) -> bool:
        """True when the request was held (it must then fail: its client may be gone)."""
        predicate = self.holding
        if predicate is not None and predicate(method, path):
            self.held.set()
            self.released.wait(120)
            return True
        return False

    def should_fail(self, method: str, path: str) -> bool:
        with self.lock:
            for rule in self.rules:
                predicate, times = rule
                if predicate(method, path) and (times is None or times > 0):
                    if times is not None:
                        rule[1] = times - 1
                    self.failed += 1
                    return True
        return False

    def start(self) -> FlakyProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                held = proxy.maybe_hold(self.command, self.path)
                if held or proxy.should_fail(self.command, self.path):
                    payload = (
                        b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>"
                    )
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Content-Type", "application/xml")
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.target_host, proxy.target_port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(name="flaky_s3")
def flaky_s3_fixture(s3: S3Fixture) -> Iterator[FlakyProxy]:
    """A proxy in front of the test S3 server whose failures a test switches on."""
    host, port = s3.url.removeprefix("http://").split(":")
    proxy = FlakyProxy(host, int(port)).start()
    yield proxy
    proxy.stop()
