# The fallback pool's indexes in the page's exact order (created_at, id), for a township's
# pool and for the district's: the pool page read ~55,000 index rows for its first 50 at
# a million cases, and the district's had no index of its own (its lead column serves a
# liaison's visibility test from the index). And the assisted case ids of a department,
# which every liaison's list reads, from an index alone.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0010_dashboard_figures"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="case", name="case_pool"),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("state", "fallback")),
                fields=["township", "created_at", "id"],
                name="case_pool",
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("state", "fallback")),
                fields=["created_at", "id"],
                include=["lead_department"],
                name="case_pool_district",
            ),
        ),
        migrations.AddIndex(
            model_name="caseassist",
            index=models.Index(fields=["department", "case"], name="case_assist_department"),
        ),
    ]
