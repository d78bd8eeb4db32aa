"""The years the calendar library knows, so that a release that learns one more moves the
running deadlines across its holidays (departments/signals.py). The years it knows as this
migration runs are the ones the deadlines were counted on."""

import django.utils.timezone
from django.db import migrations, models


def years_known_now(apps, schema_editor):
    import chinese_calendar

    years = {day.year for day in chinese_calendar.holidays} | {
        day.year for day in chinese_calendar.workdays
    }
    CalendarLibraryYear = apps.get_model("departments", "CalendarLibraryYear")
    CalendarLibraryYear.objects.bulk_create(CalendarLibraryYear(year=year) for year in years)


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0009_calendar_change_admin_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="CalendarLibraryYear",
            fields=[
                (
                    "year",
                    models.PositiveSmallIntegerField(
                        primary_key=True, serialize=False, verbose_name="year"
                    ),
                ),
                (
                    "followed_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="followed at"
                    ),
                ),
            ],
            options={
                "verbose_name": "year of the calendar library",
                "verbose_name_plural": "years of the calendar library",
                "ordering": ["year"],
            },
        ),
        migrations.RunPython(years_known_now, migrations.RunPython.noop),
    ]
