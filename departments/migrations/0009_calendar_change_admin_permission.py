"""Administrators (the `admin` role group of 0002) read the calendar changes in the admin:
each change of the holiday entries and how many open cases' deadlines it moved."""

from django.db import migrations

from departments.migration_operations import grant_permissions


class Migration(migrations.Migration):
    dependencies = [("departments", "0008_calendar_change")]

    operations = [
        grant_permissions(
            app_label="departments", codenames=["view_calendarchange"], roles=("admin",)
        )
    ]
