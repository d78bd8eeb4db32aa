"""The console handler as settings.LOGGING builds it, writing into a buffer: not the live
one, which a Celery test worker may have replaced among the root's handlers."""

import io
import logging

from django.conf import settings
from django.utils.module_loading import import_string


def configured_console() -> tuple[logging.Handler, io.StringIO]:
    config = settings.LOGGING
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(config["formatters"]["plain"]["format"]))
    for name in config["handlers"]["console"]["filters"]:
        handler.addFilter(import_string(config["filters"][name]["()"])())
    return handler, buffer
