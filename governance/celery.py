"""The Celery app, following Celery's own Django recipe."""

import logging
import os
from pathlib import Path

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import worker_ready

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


@worker_ready.connect
def tell_where_emails_go(**kwargs):
    """In production without EMAIL_URL, the demo's console backend prints every email and
    the outbox counts it as sent: say so where the operator looks, the worker's log (not in
    `check --deploy`, which SPEC §8 wants free of warnings)."""
    from django.conf import settings

    if not settings.DEBUG and settings.EMAIL_BACKEND.endswith(".console.EmailBackend"):
        logging.getLogger(__name__).warning(
            "EMAIL_URL is not set: this worker prints emails to its log instead of sending "
            "them, and no supervisor receives an escalation. Set EMAIL_URL to the mail relay."
        )
