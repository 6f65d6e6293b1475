"""Celery tasks: thin shells that turn a validated payload into a service call."""
