import axes.apps
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    """The project itself, installed to register its system checks and, through the
    admin's autodiscovery, its trim of django-axes' admin (governance/admin.py)."""

    name = "governance"
    verbose_name = "Grid governance"
    # This module also holds AxesConfig: without this, Django could not tell which of the
    # two configures the app "governance".
    default = True

    def ready(self):
        from governance import checks  # noqa: F401  (registers the checks)


class AxesConfig(axes.apps.AppConfig):
    """django-axes under a name administrators read in their language: its own config
    has no verbose_name, so the admin said "Axes" on every page, in every language (the
    way Django's "Configuring applications" documents renaming another's app)."""

    verbose_name = _("Sign-in lockout")
