"""Administrators (the `admin` role group of departments 0002) create, see and revoke
Open311 API keys and read the log of posted requests in the admin."""

from django.db import migrations

from departments.migration_operations import grant_permissions


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0006_privacy_idempotency"),
        ("departments", "0002_role_groups"),
    ]

    operations = [
        grant_permissions(
            app_label="cases",
            codenames=["add_apikey", "change_apikey", "view_apikey", "view_apirequest"],
            roles=("admin",),
        )
    ]
