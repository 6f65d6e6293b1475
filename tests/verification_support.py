"""Helpers for verification tests: a local site (real HTTP server), keys, signed manifests."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sheen.db.engine import get_engine
from sheen.settings import Settings, load_settings
from sheen.verification import signing
from sheen.verification.fingerprint import schema_fingerprint
from sheen.verification.manifest import build_manifest

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DOMAIN = "example.test"


@dataclass
class SiteBehaviour:
    """What the site does beyond serving ROOT: per-path delays, redirects, extra bytes."""

    delay: dict[str, float] = field(default_factory=dict)
    drip: dict[str, float] = field(default_factory=dict)  # seconds between single bytes
    redirect: dict[str, str] = field(default_factory=dict)
    override: dict[str, bytes] = field(default_factory=dict)
    header_drip: dict[str, float] = field(default_factory=dict)  # seconds between header bytes
    set_cookie: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)


def _handler(root: Path, behaviour: SiteBehaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one small answer must not wait for a delayed ACK

        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            behaviour.requests.append({"path": path, **dict(self.headers.items())})
            if path in behaviour.redirect:
                self.send_response(302)
                self.send_header("Location", behaviour.redirect[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path in behaviour.delay:
                time.sleep(behaviour.delay[path])
            if path in behaviour.header_drip:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(behaviour.header_drip[path])
                return
            body = behaviour.override.get(path)
            if body is None:
                file = root / path
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            if behaviour.set_cookie:
                self.send_header("Set-Cookie", "session=abc; Path=/")
            self.end_headers()
            if path in behaviour.drip:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(behaviour.drip[path])
                return
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return Handler


def self_signed_context(tmp: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@contextmanager
def serve(
    root: Path, behaviour: SiteBehaviour | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, SiteBehaviour]]:
    """A threading HTTP(S) server on 127.0.0.1 serving `root`; yields (base URL, behaviour)."""
    behaviour = behaviour or SiteBehaviour()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, behaviour))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield f"{scheme}://127.0.0.1:{server.server_port}/", behaviour
    finally:
        server.shutdown()
        server.server_close()


def make_tree(root: Path, count: int = 5, size: int = 1024) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        folder = root / ("assets" if i % 2 else "pages")
        folder.mkdir(exist_ok=True)
        (folder / f"file{i:05d}.txt").write_bytes(
            hashlib.sha256(str(i).encode()).digest() * (size // 32)
        )
    return root


@dataclass
class Signer:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public(self) -> str:
        return signing.public_key_text(self.key.public_key())

    def sign(self, manifest: bytes) -> bytes:
        return signing.sign(manifest, self.key)


def settings_for(*signers: Signer, **overrides: Any) -> Settings:
    base = load_settings().model_dump()
    base.update(manifest_public_keys=",".join(s.public for s in signers))
    base.update(overrides)
    return Settings(**base)


def current_fingerprint(settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    return schema_fingerprint(get_engine(), tuple(settings.verification_schemas.split(",")))


def manifest_for(root: Path, base_url: str, **overrides: Any) -> bytes:
    options: dict[str, Any] = {
        "domain": DOMAIN,
        "commit": COMMIT,
        "environment": "ci",
        "base_url": base_url,
        "version": 10,
        "schema_fingerprint": current_fingerprint(),
    }
    options.update(overrides)
    return build_manifest(root, **options)


def edit_manifest(manifest: bytes, **changes: Any) -> bytes:
    """The same document with top-level fields changed, still canonical."""
    from sheen.verification.manifest import canonical_bytes

    document = json.loads(manifest)
    document.update(changes)
    return canonical_bytes(document)
