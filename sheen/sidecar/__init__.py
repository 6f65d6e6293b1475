"""The read-only sidecar: health, jobs overview, server health, OpenAPI, dashboard."""

from sheen.sidecar.app import create_app

__all__ = ["create_app"]
