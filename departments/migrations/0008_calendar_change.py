"""Each change of the holiday entries is recorded, so that the running deadlines can follow
it after its commit (cases/services/calendar_changes.py)."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0007_user_manager"),
    ]

    operations = [
        migrations.CreateModel(
            name="CalendarChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "made_at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="made at"),
                ),
                ("first_day", models.DateField(verbose_name="first day changed")),
                ("kinds_before", models.JSONField(verbose_name="kinds before the change")),
                (
                    "followed_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="deadlines moved at"),
                ),
                ("cases_moved", models.PositiveIntegerField(default=0, verbose_name="cases moved")),
            ],
            options={
                "verbose_name": "calendar change",
                "verbose_name_plural": "calendar changes",
                "ordering": ["id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("followed_at__isnull", True)),
                        fields=["id"],
                        name="calendar_change_pending",
                    )
                ],
            },
        ),
    ]
