"""Administrators (the `admin` role group of departments 0002) create, see and revoke
Open311 API keys and read the log of posted requests in the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODES = ["add_apikey", "change_apikey", "view_apikey", "view_apirequest"]


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
        ("cases", "0006_privacy_idempotency"),
        ("departments", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
