"""Process start-up for `celery worker` and `celery beat`: refusals first, then metrics.

`FleetCelery.Worker` runs before Celery imports a single task module (the worker's
`init_worker` does that, before the `celeryd_init` signal): it refuses unsafe
production defaults (exit 2, one line) and points prometheus-client at the worker's
multiprocess folder, so every metric the task modules create lives in that folder
and pool children's counts add up at the scrape. `FleetCelery.Beat` runs the same
refusal before beat prints its banner or loads its schedule.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.apps.beat import Beat
from celery.apps.worker import Worker
from celery.utils.nodenames import default_nodename
from kombu.utils.objects import cached_property

from sheen.deploy.checks import refuse_unsafe_start


class FleetWorker(Worker):
    """`celery worker`: refuse unsafe defaults, set the metrics folder, then Celery's start."""

    def __init__(self, app: Any = None, hostname: str | None = None, **kwargs: Any) -> None:
        from workers.metrics_exporter import prepare_multiproc_dir

        settings = refuse_unsafe_start("worker")
        prepare_multiproc_dir(settings, default_nodename(hostname))
        super().__init__(app=app, hostname=hostname, **kwargs)


class FleetBeat(Beat):
    """`celery beat`: refuse unsafe defaults before anything else."""

    def run(self) -> None:
        refuse_unsafe_start("beat")
        super().run()


class FleetCelery(Celery):
    """The fleet's Celery app: Celery's own, with the two start-up classes above."""

    @cached_property
    def Worker(self) -> type[Worker]:
        return self.subclass_with_self(f"{__name__}:FleetWorker")

    @cached_property
    def Beat(self) -> type[Beat]:
        return self.subclass_with_self(f"{__name__}:FleetBeat")
