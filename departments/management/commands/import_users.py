from django.db import transaction
from django.utils.translation import gettext
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
        # import's transaction (a failed import invites nobody), then sent from here after
        # the commit rather than left to a worker that may not be running.
        from cases.services.invitations import users_invite
        from cases.services.outbox import foreground

        with transaction.atomic():
            result = super().apply_plan(plan, name)
            invitations = users_invite(users=result.created)
        run = foreground.deliver_now(
            (message.pk for message in invitations if message.status == message.Status.PENDING),
            progress=self.progress_line(foreground.PROGRESS_LINE),
        )
        self.invited = gettext("invitations: %(summary)s") % {
            "summary": foreground.delivery_summary(run.outcomes)
        }
        if unreachable := foreground.unreachable_server_words(run):
            self.invited += f"\n{unreachable}"
        return result

    def describe(self, plan, result):
        return f"{super().describe(plan, result)}\n{self.invited}"
