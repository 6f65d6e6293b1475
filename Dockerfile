# One image for every fleet process: worker, beat, migrate, sidecar, flower.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY celeryconfig.py beat_schedule.py alembic.ini ./
COPY sheen ./sheen
COPY workers ./workers
COPY tasks ./tasks
COPY schemas ./schemas
COPY migrations ./migrations
# The notification catalogs' .mo files are compiled here, as `make install` does.
RUN pip install -e . && pybabel compile -D messages -d sheen/notifications/locale \
    && useradd --system --uid 1000 sheen \
    && mkdir -p /var/lib/sheen && chown sheen /var/lib/sheen
# /var/lib/sheen is the one writable place besides /tmp when the root file system is read-only
# (docker-compose mounts a volume there for version archives and working directories).
USER sheen
CMD ["celery", "-A", "workers.app", "worker", "--pool", "prefork", "-Q", "jobs"]
