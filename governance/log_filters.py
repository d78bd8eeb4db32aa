"""Logging filters of the project's console handler (LOGGING in settings)."""

import logging

from django.core.exceptions import PermissionDenied


class RefusalsWithoutTraceback(logging.Filter):
    """A 403 is an everyday answer (a liaison opening the dashboard), not a fault: Django
    logs it with the exception's traceback, a dozen lines each that bury real errors. The
    line stays ("Forbidden (Permission denied): /dashboard/"); the traceback goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
