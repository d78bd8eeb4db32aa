"""The texts a case is searched by (cases/selectors/search.py), in a table of their own.

On PostgreSQL a trigger keeps each case's row (migration 0031): written when a case is
inserted, and again only when its number, description or address changes. Their GIN index
of bigrams lives here rather than on the cases' table, where every update that moves an
indexed column of a case (a transition; a holiday moving 130,000 running clocks) would add
all of the case's bigrams to it again: the holiday's move took twice as long. SQLite keeps
no rows here: its search reads the cases' texts as they are.
"""

from django.db import models


class CaseSearchText(models.Model):
    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # number || ' ' || description || ' ' || address, as the trigger joins them.
    text = models.TextField()

    def __str__(self) -> str:
        return self.text[:50]
