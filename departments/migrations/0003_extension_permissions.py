"""Liaisons, supervisors and administrators read extension requests in the admin (each
scoped to the cases they may see); deciding stays with the services."""

from django.db import migrations

from departments.migration_operations import grant_permissions


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0002_role_groups"),
        ("cases", "0004_extensions_flywheel"),
    ]

    operations = [
        grant_permissions(
            app_label="cases",
            codenames=["view_extensionrequest"],
            roles=("liaison", "supervisor", "admin"),
        )
    ]
