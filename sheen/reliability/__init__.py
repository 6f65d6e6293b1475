"""Delivery reliability pieces that are not Celery-specific: idempotency keys, retry policy."""
