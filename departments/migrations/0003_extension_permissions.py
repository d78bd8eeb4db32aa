"""Liaisons, supervisors and administrators read extension requests in the admin (each
scoped to the cases they may see); deciding stays with the services."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = ("liaison", "supervisor", "admin")


def grant(apps, schema_editor):
    app_config = apps.get_app_config("cases")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(
        content_type__app_label="cases", codename="view_extensionrequest"
    )
    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.filter(
        content_type__app_label="cases", codename="view_extensionrequest"
    ).first()
    if permission is not None:
        for group in Group.objects.filter(name__in=ROLES):
            group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0002_role_groups"),
        ("cases", "0004_extensions_flywheel"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
