"""Fetch what a site serves and hash it: httpx (async), one total deadline per fetch.

Why httpx: its async client lets one `asyncio.timeout` bound the whole fetch
(connect, TLS, headers, every body read, redirects) where urllib3 and requests
only bound each socket operation, so a server trickling one byte a second could
hold a fetch for ever. The body streams into hashlib in chunks and reading stops
at the manifest's size; no cookie is ever stored (a refusing cookie policy); the
User-Agent is fixed; TLS certificates are verified; a redirect is followed only
to the same origin; at most `concurrency` fetches run at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import httpx

from sheen.metrics import external_request
from sheen.verification.manifest import FileEntry
from sheen.verification.refusals import Reason

USER_AGENT = "SheenApps-Verifier/1.0"
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class FetchOutcome:
    """One file: what the manifest expected and what the site served."""

    entry: FileEntry
    actual_sha256: str | None
    actual_size: int
    http_status: int | None
    reason: Reason | None  # None: the file matched
    error: str | None
    duration_seconds: float

    @property
    def ok(self) -> bool:
        return self.reason is None


class _Failed(Exception):
    def __init__(self, reason: Reason, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.reason, self.error, self.status = reason, error, status


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def new_client(concurrency: int, timeout: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # never store one
        verify=True,
        follow_redirects=False,  # followed by hand, same origin only
        trust_env=False,  # no proxy, netrc or CA bundle from the environment
        timeout=httpx.Timeout(timeout),
        limits=limits,
    )


async def _stream_hash(client: httpx.AsyncClient, entry: FileEntry) -> tuple[str, int, int]:
    """(sha256, size, status) of what `entry.url` serves, following same-origin redirects."""
    url = entry.url
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", url) as response:
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                target = urljoin(url, response.headers["location"])
                if _origin(target) != _origin(url):
                    raise _Failed(
                        Reason.REDIRECT_OTHER_HOST,
                        f"redirect to another host {_origin(target)[1]!r} refused",
                        status,
                    )
                url = target
                continue
            if status != 200:
                raise _Failed(Reason.HTTP_STATUS, f"HTTP {status}", status)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > entry.size:
                raise _Failed(
                    Reason.TOO_LARGE, f"Content-Length {declared} > {entry.size} bytes", status
                )
            digest = hashlib.sha256()
            size = 0
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                size += len(chunk)
                if size > entry.size:
                    raise _Failed(
                        Reason.TOO_LARGE, f"more than the manifest's {entry.size} bytes", status
                    )
                digest.update(chunk)
            return digest.hexdigest(), size, status
    raise _Failed(Reason.TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS} redirects")


async def fetch_one(client: httpx.AsyncClient, entry: FileEntry, deadline: float) -> FetchOutcome:
    """Fetch and hash one file within `deadline` seconds in total; never raises."""
    started = time.monotonic()
    sha: str | None = None
    size, status = 0, None
    reason: Reason | None = None
    error: str | None = None
    try:
        # Counted as an error when the fetch raises (timeout, refusal, network); a served
        # body that differs from the manifest is the site's fault, not the dependency's.
        with external_request("http"):
            async with asyncio.timeout(deadline):
                sha, size, status = await _stream_hash(client, entry)
    except _Failed as exc:
        reason, error, status = exc.reason, exc.error, exc.status
    except (TimeoutError, httpx.TimeoutException):
        reason, error = Reason.TIMEOUT, f"no complete answer within {deadline:g} s"
    except httpx.HTTPError as exc:
        if _is_tls_error(exc):
            reason, error = Reason.TLS, f"TLS verification failed: {type(exc).__name__}"
        else:
            reason, error = Reason.NETWORK, f"{type(exc).__name__}: {str(exc)[:200]}"
    if reason is None:
        if size != entry.size:
            reason, error = Reason.SIZE_MISMATCH, f"served {size} bytes, manifest says {entry.size}"
        elif sha != entry.sha256:
            reason, error = Reason.HASH_MISMATCH, "SHA-256 differs from the manifest"
    return FetchOutcome(entry, sha, size, status, reason, error, time.monotonic() - started)


async def fetch_all(
    entries: Iterable[FileEntry],
    *,
    concurrency: int,
    deadline: float,
    on_batch: Callable[[list[FetchOutcome]], None],
    batch_size: int = 200,
) -> None:
    """Fetch every entry, `concurrency` at a time; hand results over `batch_size` at a time."""
    pending = iter(entries)
    buffer: list[FetchOutcome] = []
    async with new_client(concurrency, deadline) as client:

        async def worker() -> None:
            for entry in pending:  # shared iterator: each entry goes to one worker
                buffer.append(await fetch_one(client, entry, deadline))
                if len(buffer) >= batch_size:
                    batch = buffer[:]
                    buffer.clear()
                    on_batch(batch)  # synchronous on purpose: back-pressure on the fetches

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if buffer:
        on_batch(buffer[:])


def fetch_entries(
    entries: Iterable[FileEntry],
    *,
    concurrency: int,
    deadline: float,
    on_batch: Callable[[list[FetchOutcome]], None],
    batch_size: int = 200,
) -> None:
    """The synchronous entry point (a Celery task body, the CLI)."""
    asyncio.run(
        fetch_all(
            entries,
            concurrency=concurrency,
            deadline=deadline,
            on_batch=on_batch,
            batch_size=batch_size,
        )
    )
