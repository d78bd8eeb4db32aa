"""Whether a calendar change was holiday entries or a year the calendar library learnt
(departments/signals.py), for the admin's list of changes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0010_calendar_library_year"),
    ]

    operations = [
        migrations.AddField(
            model_name="calendarchange",
            name="source",
            field=models.CharField(
                choices=[
                    ("entries", "holiday entries"),
                    ("library", "a new year of the calendar library"),
                ],
                db_default="entries",
                default="entries",
                max_length=16,
                verbose_name="made by",
            ),
        ),
    ]
