"""An index of the audit trail by action and time (`CaseEvent.Meta`), for the trail
filtered by action: the supervision page's links to a department's accepts, reopens and
returns read a month of rows by time to find them (1-1.3 s at 5 million audit rows; with
it, and the department's filter asking a row's case only when it must, about 0.1 s). The
report and route rows every case has are left out.

Not atomic, and built CONCURRENTLY on PostgreSQL, so that transitions go on meanwhile
(5 s at 5 million rows). A build that fails leaves an invalid index: migrating again
drops it and builds anew.
"""

from django.db import migrations, models

INDEX = models.Index(
    fields=["action", "at"],
    condition=~models.Q(action__in=["report", "route"]),
    name="event_action_at",
)


def create(apps, schema_editor):
    model = apps.get_model("cases", "CaseEvent")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(model, INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    schema_editor.execute(str(INDEX.create_sql(model, schema_editor, concurrently=True)))


def drop(apps, schema_editor):
    model = apps.get_model("cases", "CaseEvent")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cases", "0037_case_search_bigrams_cost"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="caseevent", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
        )
    ]
