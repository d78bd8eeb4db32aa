"""`case_search_bigrams` (migration 0031) costed as what it is: some 30 µs a call, a
thousand operators' worth, not one. The searches now ask its index for the ids of the
rows holding a term first (cases/selectors/search.py, cases/admin/search.py); costed at
one operator, PostgreSQL answered that for a common word by reading the table and
computing the bigrams of each row (垃圾 at a million cases: 3 s) instead of reading the
index (20 ms)."""

from django.db import migrations

FUNCTION = "case_search_bigrams(text)"


def cost(value: int):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER FUNCTION {FUNCTION} COST {value}")

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0036_assist_waiting_index"),
    ]

    operations = [migrations.RunPython(cost(1000), cost(1), elidable=False)]
