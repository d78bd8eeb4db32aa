"""The case lists' text search (cases/selectors/search.py) on PostgreSQL: a GIN index of
the two-character substrings (bigrams) of a case's number, description and address, which
narrows a search of two characters or more to the rows holding every bigram of it before
the LIKE tests them. pg_trgm cannot serve it: a two-character Chinese word (垃圾) has no
trigram. SQLite (the demo's database) keeps the plain LIKE scan: nothing happens there.

The index is built with CREATE INDEX CONCURRENTLY (reports and transitions go on while it
builds; hence a non-atomic migration), which reads the whole table twice: 28 s for
300,000 cases (an index of 28 MB beside the table's 109 MB), so about a minute and a half
at a million. A build that fails (a deadlock, a cancel) leaves an invalid index behind;
migrating again drops it and builds anew.

The function and the indexed expression are copied here as they were written; the search
must write the same expression (search.py) for the planner to use the index.
"""

from django.db import migrations

FUNCTION = "case_search_bigrams"
INDEX = "case_text_bigrams"

# The distinct bigrams of upper(text), as UPPER(...) LIKE UPPER(...) (icontains) compares:
# with lower() a text's "ſt" would not hold the "ST" its upper case holds. A text of one
# character gives that character (the search does not prefilter one-character queries).
# Pairs by a window over the characters: substr() at each offset costs the offset in
# UTF-8, so 4,000 characters took 0.35 s, this 3 ms. COST 1, as an operator's: in a
# filter it runs only on the rows the LIKE passed (cheaper, it goes first), while costed as
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
CREATE_INDEX = (
    f"CREATE INDEX CONCURRENTLY {INDEX} ON cases_case USING gin "
    f"({FUNCTION}(number || ' ' || description || ' ' || address))"
)
DROP_INDEX = f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION)
    schema_editor.execute(DROP_INDEX)  # an invalid index a failed build left
    schema_editor.execute(CREATE_INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP_INDEX)
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("cases", "0030_supervision_figures"),
    ]

    operations = [migrations.RunPython(create, drop)]
