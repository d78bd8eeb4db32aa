"""Bigram indexes of the audit trail's comments and actor labels, for the admin's search
(cases/admin/search.py), as migration 0031's are of the cases' texts: the search lists by
id the rows the index finds, and with every searched field so listed it reads indexes
only. Without them a search for a case number or a rare word scanned every audit row
(0.45 s at 5 million). Each is partial, without the values many rows share and which the
search compares itself: an empty comment; an empty label, "system" and the sources of
reports (the sweep's audit rows, and Open311's reports, write no index entry).

Not atomic, and built CONCURRENTLY, so that transitions go on meanwhile; about a minute at
5 million audit rows. A build that fails leaves an invalid index: migrating again drops it
and builds anew.
"""

from django.db import migrations

# As cases/admin/events.py's `indexed_texts` has them.
INDEXES = {
    "event_comment_bigrams": ("comment", "comment <> ''"),
    "event_label_bigrams": (
        "actor_label",
        "actor_label NOT IN ('', 'system', 'web', 'open311', 'demo')",
    ),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (column, rows) in INDEXES.items():
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY {name} ON cases_caseevent "
            f"USING gin (case_search_bigrams({column})) WHERE {rows}"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cases", "0034_event_actor_label_statistics"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
