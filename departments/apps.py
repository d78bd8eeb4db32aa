import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


class DepartmentsConfig(AppConfig):
    name = "departments"
    verbose_name = _("Departments and grid")

    def ready(self):
        from departments import signals  # noqa: F401
        from departments.translations import compile_stale

        # Before any page or email is translated: the .mo is not in git, and a server
        # started without `make run` or the Procfile would otherwise speak English only.
        try:
            compile_stale()
        except OSError as error:
            logger.warning(
                "The translations could not be compiled (%s): pages and emails fall back to "
                "English. Run `python manage.py compile_translations` as a user who may "
                "write the locale directory.",
                error,
            )
