"""Payloads of the artifacts domain."""
