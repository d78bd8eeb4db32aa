"""The admin's search box on rows about cases (cases/admin/search.py): each word in one of
the searched fields, as Django's search has it; a case number or a user name looked up on
its own and matched by ids, as are the comments and labels an index finds, so that the
rows' filter joins no other table; and the sorts the case list and the audit trail offer."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.admin.cases import CaseAdmin
from cases.admin.events import CaseEventAdmin
from cases.models import CaseEvent
from tests.cases.test_figures import escalate

pytestmark = pytest.mark.django_db

SIGNED_LINK_READER = "Zhang.Wei@example.org"


@pytest.fixture
def trail(report, cast):
    """Two cases' audit rows, and a row by a signed link's reader, one with a comment."""
    first, second = report(), report(description="井盖缺失")
    return {
        "first": first,
        "second": second,
        "by_link": CaseEvent.objects.create(
            case=second, action="acknowledge", actor_label=SIGNED_LINK_READER
        ),
        "by_dispatcher": CaseEvent.objects.create(
            case=second, action="note", actor=cast.dispatcher, comment="已到现场 Checked"
        ),
    }


def listed(client, changelist: str, search: str) -> set[int]:
    page = client.get(reverse(changelist), {"q": search})
    assert page.status_code == 200
    return {row.pk for row in page.context["cl"].result_list}


def test_each_word_is_in_the_number_the_user_the_label_or_the_comment(client, cast, trail):
    client.force_login(cast.admin)
    first, second = trail["first"], trail["second"]
    by_link, by_dispatcher = trail["by_link"].pk, trail["by_dispatcher"].pk
    by_system = set(CaseEvent.objects.filter(actor_label="system").values_list("pk", flat=True))
    assert by_system
    expected = {
        first.number: set(first.events.values_list("pk", flat=True)),
        "SYS": by_system,  # a label many rows share, which the index leaves out
        second.number[:-1]: set(),  # a number is matched whole
        "DISPATCHER": {by_dispatcher},  # the user name, in any case
        "zhang.WEI": {by_link},  # a label the index holds, in any case
        "现场": {by_dispatcher},
        "checked": {by_dispatcher},
        f"{second.number} 现场": {by_dispatcher},  # each word, each in a field of its own
        f'"{second.number} 现场"': set(),  # a quoted phrase whole in one field
        f"{first.number} 现场": set(),
    }
    assert expected[first.number]
    for search, events in expected.items():
        assert listed(client, "admin:cases_caseevent_changelist", search) == events, search


@pytest.mark.parametrize("model", ["caseevent", "extensionrequest", "escalation", "outboxmessage"])
def test_a_search_reads_the_rows_by_the_case_ids_not_through_a_join(client, cast, trail, model):
    """Django's search ORed UPPER(case.number) = … with the rows' own columns, which no
    index serves: a district's audit trail was read whole for one case number (1.3 s at
    1.5 million rows)."""
    client.force_login(cast.admin)
    for search in (trail["first"].number, "DISPATCHER"):
        with CaptureQueriesContext(connection) as queries:
            listed(client, f"admin:cases_{model}_changelist", search)
        statements = [query["sql"] for query in queries]
        rows_read = [sql for sql in statements if f'FROM "cases_{model}"' in sql]
        assert rows_read, statements
        for sql in rows_read:
            where = sql.partition(" WHERE ")[2]  # none in the count of every row
            assert '"cases_case"."number"' not in where, sql
            assert '"departments_user"."username"' not in where, sql
        # The number on its own, as written (it has no letters), which its index serves.
        (number,) = [sql for sql in statements if 'FROM "cases_case" WHERE' in sql]
        assert '"cases_case"."number" = ' in number and "UPPER(" not in number, number


def test_the_escalations_found_by_a_case_number(client, cast, trail):
    client.force_login(cast.admin)
    escalations = {name: escalate(trail[name]).pk for name in ("first", "second")}
    found = listed(client, "admin:cases_escalation_changelist", trail["second"].number)
    assert found == {escalations["second"]}


def test_the_planner_knows_how_many_audit_rows_the_system_wrote(trail):
    """A search with letters that the label's index does not answer (one letter, a word in
    more than LISTED_IDS_LIMIT rows) compares UPPER(actor_label): without statistics of
    that expression (migration 0034) PostgreSQL guessed a two-hundredth of the rows for
    "system", which labels a third of them, and sorted them all for a page of the newest."""
    case = trail["first"]
    CaseEvent.objects.bulk_create(
        CaseEvent(case=case, action="escalate", actor_label="system") for _ in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_caseevent")
    plan = CaseEvent.objects.filter(actor_label__icontains="SYSTEM").explain()
    (estimate,) = re.findall(r"rows=(\d+)", plan.splitlines()[0])
    assert int(estimate) >= 200, plan


def test_the_audit_trail_sorts_by_time_or_case_only(client, cast, trail):
    """Its other columns are words whose codes would not sort as they read, and a sort by
    one read and sorted a district's whole trail (1 s at 1.5 million rows)."""
    client.force_login(cast.admin)
    changelist = reverse("admin:cases_caseevent_changelist")
    columns = ["action_checkbox", *CaseEventAdmin.list_display]
    for column, name in enumerate(columns):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(changelist, {"o": f"-{column}"})
        (listing,) = [
            q["sql"]
            for q in queries
            if 'FROM "cases_caseevent"' in q["sql"] and "ORDER BY" in q["sql"]
        ]
        by_time = 'ORDER BY "cases_caseevent"."at" DESC, "cases_caseevent"."id" DESC' in listing
        sorted_here = f'class="sortable column-{name}' in page.text
        assert sorted_here == (name in ("at", "case")), name
        assert by_time or name == "case", (name, listing)


def searched_texts(client, search: str) -> tuple[list[str], list[str]]:
    """The SQL of the audit trail's statements that read its rows when it lists `search`:
    those that read the texts' indexes, and the others."""
    with CaptureQueriesContext(connection) as queries:
        listed(client, "admin:cases_caseevent_changelist", search)
    statements = [q["sql"] for q in queries if 'FROM "cases_caseevent"' in q["sql"]]
    probes = [sql for sql in statements if "case_search_bigrams(" in sql]
    return probes, [sql for sql in statements if sql not in probes]


def test_the_trails_texts_are_searched_through_their_indexes(client, cast, trail):
    """A case number or a rare word, scanned for in every comment and label, took 0.45 s
    at 5 million audit rows; listed by id from the bigram indexes (migration 0035), 12 ms."""
    client.force_login(cast.admin)
    for search in (trail["second"].number, "现场", "zhang.wei"):
        probes, pages = searched_texts(client, search)
        assert len(probes) == 2, search  # the comment's index, and the label's
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            for sql in probes:
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert re.search(r"Bitmap Index Scan on event_(comment|label)_bigrams", plan)
        assert pages and not any(" LIKE " in sql for sql in pages), search


def test_a_word_in_more_rows_than_are_listed_is_compared_in_the_text(
    client, cast, trail, monkeypatch
):
    monkeypatch.setattr("cases.admin.search.LISTED_IDS_LIMIT", 1)
    again = CaseEvent.objects.create(
        case=trail["second"], action="note", actor=cast.dispatcher, comment="又到现场"
    )
    client.force_login(cast.admin)
    found = listed(client, "admin:cases_caseevent_changelist", "到现场")
    assert found == {trail["by_dispatcher"].pk, again.pk}
    assert any(" LIKE " in sql for sql in searched_texts(client, "到现场")[1])
    assert not any(" LIKE " in sql for sql in searched_texts(client, "又到")[1])


def test_the_case_list_offers_the_sorts_an_index_or_the_deadline_serves(client, cast, trail):
    client.force_login(cast.liaison)
    page = client.get(reverse("admin:cases_case_changelist")).text
    sortable = set(re.findall(r'class="sortable column-(\w+)', page))
    assert sortable == {"number", "state", "created_at", "time_left"}


def test_a_sort_typed_into_the_address_by_another_column_sorts_as_by_default(client, cast, trail):
    """Django sorts by any field column named in ?o=, sortable_by or not: by urgency or
    lead department a district's list read and sorted every case in view (0.6-0.7 s at a
    million cases)."""
    client.force_login(cast.admin)
    columns = ["action_checkbox", *CaseAdmin.list_display]
    for column in ("urgency", "lead_department", "category_name"):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("admin:cases_case_changelist"), {"o": columns.index(column)})
        (listing,) = [
            q["sql"] for q in queries if 'FROM "cases_case"' in q["sql"] and "ORDER BY" in q["sql"]
        ]
        order = listing.rsplit("ORDER BY", 1)[1]
        assert re.match(r' "cases_case"."created_at" DESC, "cases_case"."id" DESC', order), column
        assert [case.pk for case in page.context["cl"].result_list] == [
            trail["second"].pk,
            trail["first"].pk,
        ]


def test_the_case_list_joins_nothing_to_the_cases_it_sorts(client, cast, trail):
    """Joined, the categories, cells, townships and departments were joined to every case
    in view before a sort by time left kept fifty (a district's list: 0.65 s at a million
    cases, 0.33 s without): the page's own are fetched after it."""
    client.force_login(cast.liaison)
    time_left = ["action_checkbox", *CaseAdmin.list_display].index("time_left")
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("admin:cases_case_changelist"), {"o": time_left})
    (listing,) = [
        q["sql"] for q in queries if 'FROM "cases_case"' in q["sql"] and "ORDER BY" in q["sql"]
    ]
    for table in ("category", "gridcell", "township", "department"):
        assert f'"departments_{table}"' not in listing, table
    assert "城管局" in page.text and trail["second"].cell.name in page.text
