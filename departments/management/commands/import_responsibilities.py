from django.utils.translation import gettext_lazy as _

from departments.importers import plan_responsibilities
from departments.importers.command import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import the responsibility list from responsibilities.csv: "
        "category_code,department_code,scope,role,basis,valid_from,valid_to. "
        "Idempotent and all-or-nothing: "
        "any bad row is reported with its position and nothing is saved."
    )
    file_label = "FILE.csv"
    planner = staticmethod(plan_responsibilities)
