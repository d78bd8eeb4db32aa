"""The Celery app, following Celery's own Django recipe."""

import os
from pathlib import Path

from celery import Celery
from celery.beat import PersistentScheduler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("governance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class Scheduler(PersistentScheduler):
    """Celery's own beat scheduler, keeping its file under VAR_DIR (settings), whose folder
    it makes first: a deployment with a Redis broker has no VAR_DIR until something makes
    it, and beat died opening the file."""

    def setup_schedule(self):
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
