from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """The project itself, installed only to register its system checks."""

    name = "governance"
    verbose_name = "Grid governance"

    def ready(self):
        from governance import checks  # noqa: F401  (registers the checks)
