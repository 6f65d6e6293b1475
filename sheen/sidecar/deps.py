"""What the sidecar's views need, built once per app and swappable by tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from flask import current_app
from sqlalchemy import Engine

from sheen.settings import Settings

EXTENSION_KEY = "sheen_sidecar"


@dataclass
class SidecarDeps:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    queue_depths: Callable[[], Mapping[str, int]]
    dead_letter_registry: Callable[[], Any | None]
    send_task: Callable[..., Any]


def deps() -> SidecarDeps:
    found = current_app.extensions[EXTENSION_KEY]
    assert isinstance(found, SidecarDeps)
    return found
