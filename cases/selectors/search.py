"""The case lists' text search: a case number, description or address holding the search
text, and on PostgreSQL a prefilter that lets an index find the candidates first."""

from collections.abc import Iterable

from django.db import connections
from django.db.models import BooleanField, Func, Q, QuerySet
from django.utils.text import smart_split, unescape_string_literal

from cases.models import Case, CaseSearchText
from cases.privacy import (
    addresses_searchable_by_digits,
    descriptions_searchable_by_digits,
    search_skips_masked_texts,
)
from departments.models import User


class HoldsBigramsOf(Func):
    """Whether a searched text (`CaseSearchText.text`: the number, description and
    address joined) holds every two-character substring of `search`, case aside
    (`case_search_bigrams`, migration 0031), written as the GIN index's expression for
    PostgreSQL to read the candidates from it. A necessary condition only: a text holding
    the search holds its bigrams, but the bigrams may lie apart."""

    function = "case_search_bigrams"
    output_field = BooleanField()

    def __init__(self, text, search: str):
        super().__init__(text)
        self.search = search

    def as_sql(self, compiler, connection, **extra_context):
        text, params = super().as_sql(compiler, connection, **extra_context)
        return f"{text} @> {self.function}(%s)", [*params, self.search]


def containment(text: str) -> str:
    """The lookup that finds `text` inside a case's texts: `icontains` when it holds a letter
    with an upper or lower case, else `contains`. A search without one (Chinese, digits, a
    case number) matches the same rows either way, and upper-casing every description of a
    district's scan tripled its cost; nor can PostgreSQL estimate how many rows an
    UPPER(...) LIKE keeps (it guessed 120 of 36,553 for 垃圾 at 300,000 cases, and joined
    them one by one: 1.1 s in the admin against 9 ms with LIKE)."""
    has_case = any(char.upper() != char or char.lower() != char for char in text)
    return "icontains" if has_case else "contains"


def text_search(cases: QuerySet[Case], *, user: User, q: str) -> QuerySet[Case]:
    """The `cases` whose number, description or address holds `q`, in any case when it has
    letters; a search that could probe masked contacts skips the descriptions and
    addresses `user` reads masked (cases/privacy.py). On PostgreSQL, a search of two
    characters or more is also prefiltered by its bigrams: at a million cases a liaison's
    scan for 垃圾 took up to 0.6 s, and pg_trgm's trigrams cannot serve two Chinese
    characters."""
    contains = containment(q)
    in_description = Q(**{f"description__{contains}": q})
    in_address = Q(**{f"address__{contains}": q})
    if search_skips_masked_texts(user, q):
        in_description &= descriptions_searchable_by_digits(user)
        in_address &= addresses_searchable_by_digits(user)
    cases = cases.filter(Q(**{f"number__{contains}": q}) | in_description | in_address)
    return prefiltered_by_bigrams(cases, [q])


# At most this many cases found by a term's bigrams are listed by id (a list of more took
# longer to send than it saved). A term in more is left to the plain comparison: the lists
# read the newest cases first and soon have a page, and their count stops at
# CasePaginator's limit. Slow only for a term common elsewhere but rare among the cases
# in view, which are then all read: a liaison's 刮倒, in 20,694 cases of a million, none
# their department's, 0.6 s.
PREFILTER_IDS_LIMIT = 10_000


def prefiltered_by_bigrams(cases: QuerySet[Case], terms: Iterable[str]) -> QuerySet[Case]:
    """`cases` narrowed, on PostgreSQL, to those whose texts hold the bigrams of each of
    the `terms` (each held by the number, description or address of the cases a search
    finds: the list's one search text, or each word of the admin's search box), listed by
    id from the index first. Left to PostgreSQL as a subquery, it computed the bigrams of
    each case in view, for a common word (垃圾 in one case of eight: 1.4 s at a million),
    or hashed the whole index's finds and then every case (0.5 s)."""
    if connections[cases.db].vendor != "postgresql":
        return cases
    for term in terms:
        if len(term) >= 2:  # one character has no bigram: such a search reads every row
            texts = CaseSearchText.objects.all()
            ids = ids_holding(texts, "text", term, limit=PREFILTER_IDS_LIMIT, id_field="case_id")
            if ids is not None:
                cases = cases.filter(pk__in=ids)
    return cases


def ids_holding(
    rows: QuerySet, field: str, term: str, *, limit: int, id_field: str = "pk", **also
) -> list | None:
    """The `id_field` of the `rows` whose `field` holds the bigrams of `term` (and that match
    `also`), read from the field's bigram index: at most `limit` of them, or None when more
    hold them, a common term that a plain comparison of the newest rows soon finds."""
    found = rows.filter(HoldsBigramsOf(field, term), **also).order_by()
    ids = list(found.values_list(id_field, flat=True)[: limit + 1])
    return ids if len(ids) <= limit else None


def admin_search_words(search_term: str) -> list[str]:
    """The words of the admin's search box, as its changelist splits them (quotes keep a
    phrase together): each must be in one of the searched fields."""
    return [
        unescape_string_literal(word)
        if word.startswith(('"', "'")) and word[0] == word[-1]
        else word
        for word in smart_split(search_term)
    ]
