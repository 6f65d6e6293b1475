"""Migration verification: 10,000 files of 16 KiB over local HTTP vs `sha256sum` on disk.

Each round runs, interleaved, (a) the whole verifier in a fresh process (signature,
every fetch and hash, the result rows in PostgreSQL, the schema fingerprint, the
final transaction) against a local HTTP/1.1 server in another process, and (b)
`sha256sum` over the same files. Reported: files/s, the median of the per-round
time ratios (verifier / sha256sum) with min-max, and the verifier's peak RSS
(target: within 3x of sha256sum, RSS < 150 MiB). Then one 1 GiB file is verified
and the RSS growth across the fetch reported (target < 20 MiB).

    python -m benchmarks.run verification
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import scaled

FILES = scaled(10_000, 1_000)
FILE_BYTES = 16 * 1024
ROUNDS = scaled(3, 2)
BIG_BYTES = scaled(1024, 64) * 1024 * 1024
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _serve(root: str) -> None:
    """The site: a threading HTTP/1.1 server streaming files from `root` (never whole in memory)."""
    import shutil
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    base = Path(root)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            path = base / self.path.lstrip("/")
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as handle:
                shutil.copyfileobj(handle, self.wfile, 256 * 1024)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_port, flush=True)
    server.serve_forever()


def _client(manifest: str, signature: str) -> None:
    """One verification in this process; prints its time and RSS figures as JSON."""
    import uuid

    from sheen.db.engine import get_engine
    from sheen.settings import load_settings
    from sheen.verification import VerificationRequest, verify

    settings = load_settings()
    engine = get_engine(settings)
    with engine.connect():  # connect before measuring: the pool is not the subject
        pass
    request = VerificationRequest(
        Path(manifest).read_bytes(), Path(signature).read_bytes(), "ci", uuid.uuid4()
    )
    me = psutil.Process()
    rss_before = me.memory_info().rss // 1024
    sampled = [rss_before]
    stop = threading.Event()

    def sample() -> None:  # current RSS every 10 ms: ru_maxrss alone hides growth below it
        while not stop.wait(0.01):
            sampled.append(me.memory_info().rss // 1024)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    report = verify(engine, settings, request, engine.begin)
    seconds = time.perf_counter() - began
    stop.set()
    sampler.join()
    peak = max([*sampled, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss])
    print(
        json.dumps(
            {
                "seconds": seconds,
                "result": report.result,
                "files": report.files_matched,
                "rss_before_kib": rss_before,
                "peak_during_kib": max(sampled),
                "peak_rss_kib": peak,
            }
        )
    )


def _make_files(root: Path) -> list[Path]:
    files = []
    for i in range(FILES):
        folder = root / f"d{i % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{i:05d}.bin"
        path.write_bytes(os.urandom(FILE_BYTES))
        files.append(path)
    return files


def _prepare(env: BenchEnv, root: Path, base_url: str, name: str) -> tuple[Path, Path, str]:
    """A signed manifest of `root` for the bench database; returns its files and public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sheen.db.engine import get_engine
    from sheen.verification import build_manifest, signing
    from sheen.verification.fingerprint import schema_fingerprint

    key = Ed25519PrivateKey.generate()
    manifest = build_manifest(
        root,
        domain="bench.test",
        commit=COMMIT,
        environment="ci",
        base_url=base_url,
        version=int(time.time()),
        schema_fingerprint=schema_fingerprint(get_engine(), ("public", "auth")),
    )
    manifest_file, signature_file = env.tmp / f"{name}.json", env.tmp / f"{name}.json.sig"
    manifest_file.write_bytes(manifest)
    signature_file.write_bytes(signing.sign(manifest, key))
    return manifest_file, signature_file, signing.public_key_text(key.public_key())


def _start_site(root: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.verification", "serve", str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}/"


def _verify(env: BenchEnv, manifest: Path, signature: Path, public: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.verification", "client", str(manifest), str(signature)],
        env=env.environ(SHEEN_MANIFEST_PUBLIC_KEYS=public),
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if data["result"] != "success":
        raise RuntimeError(f"bench verification did not succeed: {data}")
    return data


def _sha256sum(files: list[Path]) -> float:
    began = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def run(env: BenchEnv) -> list[Figure]:
    root = env.tmp / "site"
    files = _make_files(root)
    site, base_url = _start_site(root)
    big_root = env.tmp / "big"
    big_root.mkdir()
    big = big_root / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(BIG_BYTES)  # sparse zeros: served and hashed like any 1 GiB body
    big_site, big_url = _start_site(big_root)
    try:
        manifest, signature, public = _prepare(env, root, base_url, "many")
        verifier, local, peaks = [], [], []
        for _ in range(ROUNDS):  # interleaved: verifier, then sha256sum, each round
            data = _verify(env, manifest, signature, public)
            verifier.append(data["seconds"])
            peaks.append(data["peak_rss_kib"] / 1024)
            local.append(_sha256sum(files))
        big_manifest, big_signature, big_public = _prepare(env, big_root, big_url, "big")
        big_run = _verify(env, big_manifest, big_signature, big_public)
    finally:
        site.kill()
        big_site.kill()
    ratios = [v / s for v, s in zip(verifier, local, strict=True)]
    growth = (big_run["peak_during_kib"] - big_run["rss_before_kib"]) / 1024
    return [
        Figure(
            f"verify {FILES:,} x 16 KiB over HTTP",
            FILES / statistics.median(verifier),
            "files/s",
            f"median of {ROUNDS}; {min(verifier):.2f}-{max(verifier):.2f} s per run",
        ),
        Figure(
            "sha256sum over the same files",
            FILES / statistics.median(local),
            "files/s",
            f"{min(local):.2f}-{max(local):.2f} s per run",
        ),
        Figure(
            "verifier / sha256sum time",
            statistics.median(ratios),
            "x",
            f"min {min(ratios):.2f}, max {max(ratios):.2f}; target <= 3x",
        ),
        Figure("verifier peak RSS", max(peaks), "MiB", "target < 150 MiB"),
        Figure(
            f"verify one {BIG_BYTES // 2**20} MiB file",
            big_run["seconds"],
            "s",
            f"RSS growth {growth:.1f} MiB across the run (target < 20 MiB)",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _serve(sys.argv[2])
    elif sys.argv[1] == "client":
        _client(sys.argv[2], sys.argv[3])
