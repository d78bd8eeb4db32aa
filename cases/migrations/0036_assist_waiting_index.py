"""An index of the summonses not yet answered, for the lists of cases awaiting a report for
duty (cases/selectors/lists.py, awaiting_report_for_duty): a few rows among every assist.
Built in one short lock of the assists (228,519 rows at a million cases: a fraction of a
second), which a dispatch or a report for duty waits out."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0035_event_text_bigrams"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="caseassist",
            index=models.Index(
                condition=models.Q(("reported_at", None), ("summoned", True)),
                fields=["case"],
                name="case_assist_waiting",
            ),
        ),
    ]
