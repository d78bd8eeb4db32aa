"""The admin's search box on rows about cases: each word in one of the searched fields, as
Django's search has it, matched as the case lists match (`containment`). A related row's
field is looked up first and matched by its ids, and so, on PostgreSQL, are the rows an
index of a free text finds: the filter then joins nothing and reads indexes only."""

import operator
from dataclasses import dataclass
from functools import reduce

from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.constants import LOOKUP_SEP

from cases.selectors.search import admin_search_words, containment, ids_holding

# At most this many rows found through a text's index are listed by id: a word in more is
# left to the plain comparison, with which PostgreSQL reads the newest rows by time and
# soon has a page of them.
LISTED_IDS_LIMIT = 1000


@dataclass(frozen=True)
class IndexedText:
    """A free text whose bigram index (`case_search_bigrams`, migration 0031's function)
    holds the rows of every value but the few `unindexed` ones, which many rows share."""

    field: str
    unindexed: tuple[str, ...]

    def rows_holding(self, rows: QuerySet, word: str, lookup: str) -> Q | None:
        """`rows` with `word` in the text, by their ids, or None when the index cannot
        tell them (a word of one character, more than LISTED_IDS_LIMIT rows, SQLite)."""
        if len(word) < 2 or connections[rows.db].vendor != "postgresql":
            return None
        indexed = rows.exclude(**{f"{self.field}__in": self.unindexed})
        also = {f"{self.field}__{lookup}": word}
        ids = ids_holding(indexed, self.field, word, limit=LISTED_IDS_LIMIT, **also)
        if ids is None:
            return None
        found = Q(pk__in=ids)
        # Compared here as the database compares: UPPER on both sides for icontains.
        same_case = str.upper if lookup == "icontains" else str
        if shared := [value for value in self.unindexed if same_case(word) in same_case(value)]:
            found |= Q(**{f"{self.field}__in": shared})
        return found


def every_word_in_a_field(
    rows: QuerySet, fields, search_term: str, indexed: tuple[IndexedText, ...] = ()
) -> Q:
    """`rows` holding each word of `search_term` in one of `fields`, named as the admin's
    `search_fields` name them ("=" for a field equal to the word as written)."""
    return reduce(
        operator.and_,
        (
            reduce(operator.or_, (word_in(rows, field, word, indexed) for field in fields))
            for word in admin_search_words(search_term)
        ),
        Q(),
    )


def word_in(rows: QuerySet, field: str, word: str, indexed: tuple[IndexedText, ...] = ()) -> Q:
    """`rows` with `word` in `field`. A related row's field is for those that few rows
    match (a case number, a user name): their ids are listed in the filter."""
    if field.startswith("="):
        # Here "=" names a case number, which has no letters: matched as written, which
        # its unique index serves (Django's iexact upper-cased each of a million numbers
        # for a word with letters, 0.1 s).
        path, lookup = field[1:], "exact"
    else:
        path, lookup = field, containment(word)
    relation, _sep, related_path = path.partition(LOOKUP_SEP)
    if related_path:
        # The related rows' ids, in a query of their own. ORed with the rows' own columns,
        # a joined column made PostgreSQL join the whole tables before filtering: a
        # district supervisor's search of the audit trail for a case number took 1.3 s at
        # 1.5 million rows, 0.18 s by the ids.
        related = rows.model._meta.get_field(relation).related_model
        ids = related._base_manager.filter(**{f"{related_path}__{lookup}": word})
        return Q(**{f"{relation}__in": list(ids.values_list("pk", flat=True))})
    for text in indexed:
        if text.field == path and (found := text.rows_holding(rows, word, lookup)) is not None:
            # With every field so listed, the filter reads indexes only: a search of 5
            # million audit rows for a case number or a rare word, 0.45 s scanning the
            # texts, took 12 ms.
            return found
    return Q(**{f"{path}__{lookup}": word})


class SearchByIdsMixin:
    """`every_word_in_a_field` as the changelist's search. The filter joins nothing, so
    no row is listed twice."""

    indexed_texts: tuple[IndexedText, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        fields = self.get_search_fields(request)
        if not (fields and search_term):
            return queryset, False
        rows = self.model._base_manager.using(queryset.db)
        found = every_word_in_a_field(rows, fields, search_term, self.indexed_texts)
        return queryset.filter(found), False
