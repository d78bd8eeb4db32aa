"""The case lists' text search (cases/selectors/search.py): what it finds, for whom, and
on PostgreSQL the bigram prefilter the GIN index of migration 0031 serves, which must
narrow the rows read without changing which cases are found."""

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.selectors.lists import case_search

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


@pytest.fixture
def texts(report):
    """Cases whose texts a search must find, or pass over, by a part of them."""
    return {
        "rubbish": report(description="路边堆放垃圾三天无人清理", address="人民路 12 号"),
        "lamp": report(description="路灯不亮 Street LAMP broken", address="解放路"),
        # The long s upper-cases to S: a search for "st" finds it as icontains compares.
        "old_spelling": report(description="Maſt of the ſtreet lamp", address=""),
        "grid": report(description="东站社区第1网格 3号楼前积水", address="东站路 7 号"),
        "phone": report(description=f"东站社区第1网格 积水，请回电 {PHONE}", address=""),
    }


def found(user, search: str, texts) -> set[str]:
    numbers = {case.number: name for name, case in texts.items()}
    return {
        numbers[number] for number in case_search(user, q=search).values_list("number", flat=True)
    }


@pytest.mark.parametrize(
    "search, expected",
    [
        ("垃圾", {"rubbish"}),  # two Chinese characters: one bigram
        ("路灯不亮", {"lamp"}),
        ("垃", {"rubbish"}),  # one character: no bigram, no prefilter
        ("路", {"rubbish", "lamp", "grid"}),
        ("LaMp", {"lamp", "old_spelling"}),  # Latin in any case
        ("st", {"lamp", "old_spelling"}),
        ("人民路 12", {"rubbish"}),  # the address, across a space
        ("东站路", {"grid"}),
        ("3号楼", {"grid"}),  # digits: texts with nothing to mask
        (PHONE[:5], set()),  # a phone's digits: not in a text read masked
        # Each bigram is in the joined texts ("理 人民" spans the description and the
        # address), but the search is in none of the texts: the LIKE stays the test.
        ("理 人民", set()),
        ("路灯亮", set()),  # bigrams apart
    ],
)
def test_the_search_finds_the_cases_whose_texts_hold_it(cast, texts, search, expected):
    assert found(cast.liaison, search, texts) == expected


def test_a_case_number_or_a_fragment_of_it_finds_its_case(cast, texts):
    grid = texts["grid"]
    assert found(cast.liaison, grid.number, texts) == {"grid"}
    assert found(cast.liaison, grid.number[-4:], texts) == {"grid"}
    assert found(cast.liaison, grid.number[:4], texts) == set(texts)  # the year


def test_digits_find_the_texts_a_reader_reads_unmasked_and_no_other(cast, texts):
    assert found(cast.liaison, "第1网格", texts) == {"grid"}
    assert found(cast.dispatcher, "第1网格", texts) == {"grid", "phone"}  # calls back
    assert found(cast.admin, PHONE[:5], texts) == {"phone"}
    assert found(cast.dispatcher, PHONE, texts) == {"phone"}


def statements_of(client, url: str, search: str) -> tuple[list[str], list[str]]:
    """The SQL of a list page's statements that look a search's bigrams up in the index,
    and of those that compare the texts."""
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url, {"q": search})
        assert page.status_code == 200
    statements = [query["sql"] for query in queries.captured_queries]
    lookups = [sql for sql in statements if "case_search_bigrams(" in sql]
    assert all('FROM "cases_casesearchtext"' in sql for sql in lookups)
    return lookups, [sql for sql in statements if " LIKE " in sql]


LISTED = '"cases_case"."id" IN ('


def test_a_search_of_two_characters_or_more_lists_the_cases_holding_its_bigrams(
    client, cast, texts
):
    """The index is asked first for the ids of the cases holding the search's bigrams, and
    the texts of those alone are compared."""
    client.force_login(cast.liaison)
    for search in ("垃圾", "LaMp", "3号楼", texts["grid"].number):
        lookups, searches = statements_of(client, reverse("cases:list"), search)
        assert len(lookups) == 1, search
        assert searches and all(LISTED in sql for sql in searches), search
    # One character has no bigram to look up: the LIKE alone.
    lookups, searches = statements_of(client, reverse("cases:list"), "垃")
    assert not lookups and searches and not any(LISTED in sql for sql in searches)
    # Bigrams no text holds together: no case to compare.
    lookups, searches = statements_of(client, reverse("cases:list"), "路灯亮")
    assert len(lookups) == 1 and not searches


def test_a_search_held_by_too_many_cases_to_list_compares_the_texts_alone(
    client, cast, texts, monkeypatch
):
    """A word in more cases than are listed by id is left to the plain comparison, which
    reads the newest cases first and soon has a page: the same cases are found."""
    monkeypatch.setattr("cases.selectors.search.PREFILTER_IDS_LIMIT", 1)
    client.force_login(cast.district_supervisor)
    lookups, searches = statements_of(client, reverse("cases:list"), "东站")
    assert len(lookups) == 1 and searches and not any(LISTED in sql for sql in searches)
    assert found(cast.district_supervisor, "东站", texts) == {"grid", "phone"}


def test_the_bigrams_are_read_from_their_index_and_costed_so(cast, texts):
    """The lookup's expression is the index's exactly, or PostgreSQL would not use it: with
    sequential scans off, it reads the GIN index. And the function is costed as what it
    is (migration 0037): at one operator's cost, PostgreSQL read a million texts computing
    the bigrams of each for a common word (3 s) rather than the index (20 ms)."""
    from cases.models import CaseSearchText
    from cases.selectors.search import HoldsBigramsOf

    holding = CaseSearchText.objects.filter(HoldsBigramsOf("text", "路灯不亮")).values("case_id")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SELECT procost FROM pg_proc WHERE proname = 'case_search_bigrams'")
        (cost,) = cursor.fetchone()
    plan = holding.explain()
    assert "Bitmap Index Scan on case_text_bigrams" in plan, plan
    assert [row["case_id"] for row in holding] == [texts["lamp"].pk]
    assert cost >= 1000


def test_the_admins_search_box_is_prefiltered_word_by_word(client, cast, texts):
    """Liaisons search in the admin's changelist: each word of its box, quoted phrases
    whole, is looked up in the bigram index, and the same cases are found. A word without
    letters is matched as written, as on the site's list: upper-casing every text made
    PostgreSQL guess 120 rows for 垃圾 where 36,553 of 300,000 held it (1.1 s, not 9 ms)."""
    client.force_login(cast.liaison)
    changelist = reverse("admin:cases_case_changelist")
    for search, expected, words in (
        ("垃圾", {"rubbish"}, 1),
        ("路灯 LAMP", {"lamp"}, 2),
        ('"人民路 12"', {"rubbish"}, 1),
        ("路灯亮", set(), 1),
    ):
        lookups, searches = statements_of(client, changelist, search)
        page = client.get(changelist, {"q": search})
        shown = {case.number for case in page.context["cl"].result_list}
        assert shown == {texts[name].number for name in expected}, search
        assert len(lookups) == words, search
        assert all(LISTED in sql for sql in searches), search
        has_letters = search == "路灯 LAMP"
        assert all(("UPPER(" in sql) == has_letters for sql in searches), search


def search_row_version(case) -> str:
    """Where the case's row of searched texts lies: an update writes a new version of it
    elsewhere (the test is one transaction: xmin would not tell)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ctid::text FROM cases_casesearchtext WHERE case_id = %s", [case.pk])
        return cursor.fetchone()[0]


def test_the_searched_texts_follow_a_change_and_only_a_change_of_them(cast, texts):
    """A trigger keeps each case's searched texts in their own table, whose index a
    transition or a holiday moving the case's clock must not touch."""
    from cases.models import Case
    from cases.services import workflow

    lamp = texts["lamp"]
    written = search_row_version(lamp)
    Case.objects.filter(pk=lamp.pk).update(address="幸福大街 8 号")
    assert search_row_version(lamp) != written
    assert found(cast.liaison, "幸福大街", texts) == {"lamp"}
    assert found(cast.liaison, "解放路", texts) == set()
    written = search_row_version(lamp)
    workflow.case_accept(case=Case.objects.get(pk=lamp.pk), actor=cast.liaison)
    Case.objects.filter(pk=lamp.pk).update(due_at=None, version=F("version") + 1)
    assert search_row_version(lamp) == written
