"""The Celery side of the fleet: the app, the task base and the middleware pipeline."""
