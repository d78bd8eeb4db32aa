from django.utils.translation import gettext_lazy as _

from departments.importers import plan_users
from departments.importers.command import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import users from users.csv: "
        "username,full_name,email,role,township_code,department_code (no passwords). "
        "Idempotent and all-or-nothing: "
        "any bad row is reported with its position and nothing is saved."
    )
    file_label = "FILE.csv"
    planner = staticmethod(plan_users)
