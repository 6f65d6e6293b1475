"""Payloads of the analytics domain."""
