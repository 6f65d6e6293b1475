"""SheenApps worker fleet: the library behind the Celery tasks, the CLI and the sidecar."""
