from django.utils.translation import gettext_lazy as _

from departments.importers import plan_categories
from departments.importers.command import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import case categories from categories.csv: "
        "code,name,parent_code,accept_hours,resolve_days. "
        "Idempotent and all-or-nothing: "
        "any bad row is reported with its position and nothing is saved."
    )
    file_label = "FILE.csv"
    planner = staticmethod(plan_categories)
