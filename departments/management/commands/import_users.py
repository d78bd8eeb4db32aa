from django.db import transaction
from django.utils.translation import gettext as gettext_now
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

    def apply_plan(self, plan, name):
        # New users get an invitation to set their password (SPEC §5), queued in the
        # import's transaction: a failed import invites nobody.
        from cases.services.invitations import users_invite

        with transaction.atomic():
            result = super().apply_plan(plan, name)
            self.invited = users_invite(users=result.created)
        return result

    def describe(self, plan, result):
        invited = gettext_now("invitations queued: %(count)d") % {"count": len(self.invited)}
        return f"{super().describe(plan, result)}\n{invited}"
