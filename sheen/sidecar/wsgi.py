"""WSGI entry point for gunicorn: `gunicorn sheen.sidecar.wsgi:app`.

Importing this module builds the app, so it reads the settings: that is the one
place where import means start-up.
"""

from sheen.sidecar.app import create_app

app = create_app()
