"""Typed task payloads, validated at the boundary before any work starts."""
