"""Outgoing webhook calls are counted by outcome in sheen_external_requests_total."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from sheen.deadletters.digest import post_webhook
from sheen.errors import TransientError
from sheen.metrics import EXTERNAL_REQUESTS


class _Receiver(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _count(status: str) -> float:
    total = 0.0
    for metric in EXTERNAL_REQUESTS.collect():
        for sample in metric.samples:
            if (
                sample.name.endswith("_total")
                and sample.labels.get("dependency") == "webhook"
                and sample.labels.get("status") == status
            ):
                total += sample.value
    return total


def test_webhook_success_and_failure_are_counted(receiver):
    """A 2xx counts one success; a 5xx counts one error and is a transient failure."""
    url = f"http://127.0.0.1:{receiver.server_port}/hook"
    ok_before, err_before = _count("success"), _count("error")
    _Receiver.status = 200
    assert post_webhook(url, {"text": "digest"}, timeout=5) == 200
    _Receiver.status = 503
    with pytest.raises(TransientError, match="503"):
        post_webhook(url, {"text": "digest"}, timeout=5)
    assert _count("success") == ok_before + 1
    assert _count("error") == err_before + 1
