"""Administrators (the `admin` role group of departments 0002) read the email outbox, the
escalations and the sweep runs in the admin, and send failed emails again from there
(`change_outboxmessage` opens that action only: every page stays read-only)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODES = ["view_outboxmessage", "change_outboxmessage", "view_escalation", "view_sweeprun"]


def grant(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; this migration needs them now.
    app_config = apps.get_app_config("cases")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name="admin")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="cases", codename__in=CODES)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="admin").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="cases", codename__in=CODES)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0021_figures_due_counts"),
        ("departments", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
