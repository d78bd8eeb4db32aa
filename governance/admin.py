"""django-axes' admin, trimmed to what administrators use: who is locked out (access
attempts, deleted to let someone in before the cool-off ends) and the sign-in record
(access logs). Its failure log is off (AXES_ENABLE_ACCESS_FAILURE_LOG, false by default),
so that page was always empty. Runs after axes' own admin: INSTALLED_APPS lists it first."""

from axes.models import AccessFailureLog
from django.conf import settings
from django.contrib import admin

if not getattr(settings, "AXES_ENABLE_ACCESS_FAILURE_LOG", False) and admin.site.is_registered(
    AccessFailureLog
):
    admin.site.unregister(AccessFailureLog)
