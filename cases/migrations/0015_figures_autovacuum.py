from django.db import migrations

# Every refresh deletes and inserts again the rows of the days it recomputes, so the
# roll-up collects dead rows much faster than its size suggests; vacuum it after a few
# thousand of them, not after a fifth of the table (PostgreSQL's default), so that the
# dashboard's scans stay short.
TUNE = (
    "SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000, "
    "autovacuum_analyze_scale_factor = 0.05)"
)
UNTUNE = (
    "RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
    "autovacuum_analyze_scale_factor)"
)


def _alter(apps, schema_editor, change: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("cases", "DailyFigures")._meta.db_table
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} {change}")


def tune(apps, schema_editor):
    _alter(apps, schema_editor, TUNE)


def untune(apps, schema_editor):
    _alter(apps, schema_editor, UNTUNE)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0014_figures_seen_versions"),
    ]

    operations = [migrations.RunPython(tune, untune)]
