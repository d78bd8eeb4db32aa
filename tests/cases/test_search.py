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


def searches_of(client, search: str) -> list[str]:
    """The SQL of the list page's statements that search the texts."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("cases:list"), {"q": search}).status_code == 200
    return [query["sql"] for query in queries.captured_queries if " LIKE " in query["sql"]]


def test_a_search_of_two_characters_or_more_is_prefiltered_by_its_bigrams(client, cast, texts):
    client.force_login(cast.liaison)
    for search in ("垃圾", "LaMp", "3号楼", texts["grid"].number):
        searches = searches_of(client, search)
        assert searches, search
        assert all("case_search_bigrams(" in sql for sql in searches), search
    # One character has no bigram to look up: the LIKE alone.
    assert not any("case_search_bigrams(" in sql for sql in searches_of(client, "垃"))


def test_the_prefilter_is_read_from_the_bigram_index(cast, texts):
    """The filter's expression is the index's exactly, or PostgreSQL would not use it:
    with sequential and plain index scans off, the count's query reads the GIN index."""
    counted = case_search(cast.district_supervisor, q="路灯不亮").order_by().values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = counted.explain()
    assert "Bitmap Index Scan on case_text_bigrams" in plan, plan
    assert list(counted.values_list("number", flat=True)) == [texts["lamp"].number]


def test_the_admins_search_box_is_prefiltered_word_by_word(client, cast, texts):
    """Liaisons search in the admin's changelist: each word of its box, quoted phrases
    whole, is prefiltered by its bigrams, and the same cases are found. A word without
    letters is matched as written, as on the site's list: upper-casing every text made
    PostgreSQL guess 120 rows for 垃圾 where 36,553 of 300,000 held it (1.1 s, not 9 ms)."""
    client.force_login(cast.liaison)
    changelist = reverse("admin:cases_case_changelist")
    for search, expected in (
        ("垃圾", {"rubbish"}),
        ("路灯 LAMP", {"lamp"}),
        ('"人民路 12"', {"rubbish"}),
        ("路灯亮", set()),
    ):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(changelist, {"q": search})
        assert page.status_code == 200
        shown = {case.number for case in page.context["cl"].result_list}
        assert shown == {texts[name].number for name in expected}, search
        searches = [q["sql"] for q in queries.captured_queries if " LIKE " in q["sql"]]
        assert searches and all("case_search_bigrams(" in sql for sql in searches), search
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
