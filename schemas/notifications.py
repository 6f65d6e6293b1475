"""Payloads of the notifications domain."""
