"""Payloads of the verification domain."""
