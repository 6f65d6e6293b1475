"""Deployment safety: start-up refusals, TLS options, the Flower entry point, health checks."""
