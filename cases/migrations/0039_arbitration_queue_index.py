"""An index of the supervisors' arbitration queue (`Case.Meta`): the pool's cases returned
twice, few among the pool's, which the queue read all of (0.38 s at a million cases). Its
build reads the cases once, holding their writes for about a second at a million."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0038_event_action_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("return_count__gte", 2), ("state", "fallback")),
                fields=["created_at", "id"],
                name="case_awaiting_arbitration",
            ),
        ),
    ]
