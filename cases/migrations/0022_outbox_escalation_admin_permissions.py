"""Administrators (the `admin` role group of departments 0002) read the email outbox, the
escalations and the sweep runs in the admin, and send failed emails again from there
(`change_outboxmessage` opens that action only: every page stays read-only)."""

from django.db import migrations

from departments.migration_operations import grant_permissions


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0021_figures_due_counts"),
        ("departments", "0002_role_groups"),
    ]

    operations = [
        grant_permissions(
            app_label="cases",
            codenames=[
                "view_outboxmessage",
                "change_outboxmessage",
                "view_escalation",
                "view_sweeprun",
            ],
            roles=("admin",),
        )
    ]
