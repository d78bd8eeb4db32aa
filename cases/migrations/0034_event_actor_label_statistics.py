"""Statistics of the audit trail's upper-cased actor labels, for the admin's search
(cases/admin/search.py). A search with letters compares UPPER(actor_label) LIKE
UPPER('%system%'), whose share of rows PostgreSQL cannot tell without them: it guessed
202 rows of 549,168 labelled "system" at 1.5 million audit rows, scanned and sorted them
all for a township supervisor's page (0.6 s) instead of reading the newest few by time
(15 ms). The ANALYZE fills them now rather than at autovacuum's next pass.
"""

from django.db import migrations

STATISTICS = "event_actor_label_upper"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} ON (upper(actor_label)) "
        f"FROM cases_caseevent"
    )
    schema_editor.execute("ANALYZE cases_caseevent")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0033_clock_calendar_revision"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
