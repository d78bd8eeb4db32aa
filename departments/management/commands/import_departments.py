from django.utils.translation import gettext_lazy as _

from departments.importers import plan_departments
from departments.importers.command import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import departments from departments.csv: code,name,supervisor_emails. "
        "Idempotent and all-or-nothing: "
        "any bad row is reported with its position and nothing is saved."
    )
    file_label = "FILE.csv"
    planner = staticmethod(plan_departments)
