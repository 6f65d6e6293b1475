"""Artifact lifecycle: soft delete, content-addressed cold storage, purge, verified restore."""
