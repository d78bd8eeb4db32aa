"""Each clock and report-for-duty deadline records the last calendar change it was placed or
moved on (departments 0008): existing ones 0, before every change."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0032_supervision_reopens_by_resolve_day"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="calendar_revision",
            field=models.BigIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AddField(
            model_name="caseassist",
            name="calendar_revision",
            field=models.BigIntegerField(db_default=0, default=0, editable=False),
        ),
    ]
