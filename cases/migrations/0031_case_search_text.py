"""The case lists' text search (cases/selectors/search.py) on PostgreSQL: each case's
number, description and address joined in a table of their own (`CaseSearchText`, kept by
a trigger on the cases), with a GIN index of their two-character substrings (bigrams),
which narrows a search of two characters or more to the cases holding every bigram of it
before the LIKE tests them. pg_trgm cannot serve it: a two-character Chinese word (垃圾)
has no trigram. SQLite (the demo's database) keeps the plain LIKE scan: the table stays
empty there.

Not atomic, so that reports and transitions go on meanwhile: the trigger first, then the
rows of the cases already there (a row the trigger wrote meanwhile is newer and kept),
then the index, built CONCURRENTLY. At 300,000 cases the rows and the index took some
30 s; expect a minute or two at a million. A build that fails (a deadlock, a cancel) leaves
an invalid index: migrating again drops it and builds anew.

The function and the indexed expression are written here as the search writes them
(search.py): the planner uses the index only for the same expression.
"""

import django.db.models.deletion
from django.db import migrations, models

FUNCTION = "case_search_bigrams"
INDEX = "case_text_bigrams"
TABLE = "cases_casesearchtext"
SYNC = "case_search_text_sync"

# The distinct bigrams of upper(text), as UPPER(...) LIKE UPPER(...) (icontains) compares:
# with lower() a text's "ſt" would not hold the "ST" its upper case holds. A text of one
# character gives that character (the search does not prefilter one-character queries).
# Pairs by a window over the characters: substr() at each offset costs the offset in
# UTF-8, so 4,000 characters took 0.35 s, this 3 ms. COST 1, as an operator's: costed as
# a SQL function's 100 it sent a caseworker's 垃圾 page onto parallel workers (1 → 26 ms).
CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1
AS $$
    SELECT CASE WHEN length($1) < 2 THEN ARRAY[upper($1)] ELSE ARRAY(
        SELECT DISTINCT pair FROM (
            SELECT ch || lead(ch) OVER (ORDER BY n) AS pair
            FROM unnest(string_to_array(upper($1), NULL)) WITH ORDINALITY AS chars(ch, n)
        ) AS pairs
        WHERE pair IS NOT NULL
    ) END
$$
"""

# None of the three columns is nullable (an address is blank, never NULL).
JOINED = "{0}.number || ' ' || {0}.description || ' ' || {0}.address"

CREATE_SYNC = f"""
CREATE OR REPLACE FUNCTION {SYNC}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TABLE} (case_id, text) VALUES (NEW.id, {JOINED.format("NEW")})
    ON CONFLICT (case_id) DO UPDATE SET text = EXCLUDED.text;
    RETURN NULL;
END
$$
"""
CREATE_TRIGGERS = [
    f"CREATE TRIGGER {SYNC}_insert AFTER INSERT ON cases_case "
    f"FOR EACH ROW EXECUTE FUNCTION {SYNC}()",
    # Only when a searched text changed: a transition's save writes every column.
    f"CREATE TRIGGER {SYNC}_update AFTER UPDATE OF number, description, address "
    f"ON cases_case FOR EACH ROW WHEN ("
    f"OLD.number IS DISTINCT FROM NEW.number OR OLD.description IS DISTINCT FROM "
    f"NEW.description OR OLD.address IS DISTINCT FROM NEW.address) EXECUTE FUNCTION {SYNC}()",
]
BACKFILL = (
    f"INSERT INTO {TABLE} (case_id, text) SELECT id, {JOINED.format('cases_case')} "
    f"FROM cases_case ON CONFLICT (case_id) DO NOTHING"
)
CREATE_INDEX = f"CREATE INDEX CONCURRENTLY {INDEX} ON {TABLE} USING gin ({FUNCTION}(text))"
DROP_INDEX = f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in (CREATE_FUNCTION, CREATE_SYNC, *CREATE_TRIGGERS, BACKFILL, DROP_INDEX):
        schema_editor.execute(statement)
    schema_editor.execute(CREATE_INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP_INDEX)
    for kind in ("insert", "update"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {SYNC}_{kind} ON cases_case")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {SYNC}()")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cases", "0030_supervision_figures"),
    ]

    operations = [
        migrations.CreateModel(
            name="CaseSearchText",
            fields=[
                (
                    "case",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="cases.case",
                    ),
                ),
                ("text", models.TextField()),
            ],
        ),
        migrations.RunPython(create, drop),
    ]
