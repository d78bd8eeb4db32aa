"""What one report costs the database, as in production: its own transaction (not a test's
savepoint), every statement listed. Reports are the hot write path (bench: intake)."""

import threading
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from cases.models import Case, CaseEvent
from cases.services.intake import case_report
from tests.cases.open311support import BASE, api_key_fixture  # noqa: F401
from tests.conftest import centre_of

pytestmark = pytest.mark.django_db(transaction=True)


def statements(captured) -> list[str]:
    """The captured SQL, each shortened to its verb and table."""
    short = []
    for query in captured.captured_queries:
        words = query["sql"].replace('"', "").split()
        verb = words[0]
        if verb == "SELECT":
            short.append(f"SELECT {words[words.index('FROM') + 1]}")
        elif verb == "INSERT":
            short.append(f"INSERT {words[2]}")
        else:
            short.append(verb)
    return short


def test_a_web_report_is_eight_statements_and_inserts_the_case_once(client, cast, world):
    client.force_login(cast.caseworker)
    form = {
        "category": world.rubbish.pk,
        "cell": world.n1.pk,
        "description": "垃圾",
        "urgency": "normal",
    }
    assert client.post("/cases/new/", {**form, "confirm_new": "on"}).status_code == 302  # warm

    with CaptureQueriesContext(connection) as captured:
        response = client.post("/cases/new/", {**form, "confirm_new": "on"})

    assert response.status_code == 302
    assert statements(captured) == [
        "SELECT django_session",
        "SELECT departments_user",
        "SELECT departments_routingstamp",  # once: router, calendar, category and cell
        "BEGIN",
        "INSERT cases_casenumbercounter",  # the year's counter, locked from here to COMMIT
        "INSERT cases_case",  # already routed: no UPDATE
        "INSERT cases_caseevent",  # both audit rows, report and route
        "COMMIT",
    ]
    case = Case.objects.get(number=response["Location"].rstrip("/").rsplit("/", 1)[1])
    assert case.state == "assigned" and case.version == 1
    assert list(case.events.values_list("action", flat=True)) == ["report", "route"]


def test_a_confirmed_web_report_looks_for_its_one_time_key_only_by_claiming_it(client, cast, world):
    client.force_login(cast.caseworker)
    form = {
        "category": world.rubbish.pk,
        "cell": world.n1.pk,
        "description": "垃圾",
        "urgency": "normal",
        "confirm_new": "on",
    }
    client.post("/cases/new/", {**form, "idempotency_key": str(uuid.uuid4())})  # warm

    with CaptureQueriesContext(connection) as captured:
        response = client.post("/cases/new/", {**form, "idempotency_key": str(uuid.uuid4())})

    assert response.status_code == 302
    # No look for an earlier submission before the transaction: the claim is that look.
    assert statements(captured) == [
        "SELECT django_session",
        "SELECT departments_user",
        "SELECT departments_routingstamp",
        "BEGIN",
        "INSERT cases_idempotencykey",  # the claim: a twin in flight waits here
        "INSERT cases_casenumbercounter",
        "INSERT cases_case",
        "INSERT cases_caseevent",
        "UPDATE",  # the key points at its case
        "COMMIT",
    ]


def test_an_open311_report_is_nine_statements(client, world, api_key):
    lat, lng = centre_of(0)
    post = {"api_key": api_key[1], "service_code": "ENV-RUBBISH", "lat": lat, "long": lng}
    assert client.post(f"{BASE}/requests.json", {**post, "description": "垃圾"}).status_code == 200

    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"{BASE}/requests.json", {**post, "description": "又有垃圾"})

    assert response.status_code == 200
    assert statements(captured) == [
        "SELECT cases_apikey",  # used a moment ago: last_used_at is not written again
        "BEGIN",
        "SELECT departments_routingstamp",  # once: router, calendar, service code
        "INSERT cases_casenumbercounter",
        "INSERT cases_case",
        "INSERT cases_caseevent",
        "INSERT cases_apirequest",
        "COMMIT",
        "SELECT departments_department",  # the service notice names the department
    ]


def test_a_report_with_assisting_departments_adds_one_insert_for_them(cast, world):
    from departments.models import Responsibility

    Responsibility.objects.create(
        category=world.rubbish, department=world.housing, role=Responsibility.Role.ASSIST
    )
    case_report(reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="x")

    with CaptureQueriesContext(connection) as captured:
        case = case_report(
            reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="y"
        )

    assert statements(captured)[-2:] == ["INSERT cases_caseassist", "COMMIT"]
    assert list(case.assists.values_list("department", flat=True)) == [world.housing.pk]


def test_concurrent_reports_get_distinct_consecutive_numbers(cast, world):
    case_report(reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="0")
    reporters, start = 6, threading.Barrier(6)
    numbers, errors = [], []

    def report(i):
        try:
            start.wait(timeout=10)
            case = case_report(
                reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description=str(i)
            )
            numbers.append(case.number)
        except Exception as error:  # noqa: BLE001 - the assertion below shows it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=report, args=(i,)) for i in range(reporters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    serials = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert serials == [2, 3, 4, 5, 6, 7]
    assert CaseEvent.objects.filter(action="route").count() == reporters + 1


def test_a_report_rolled_back_gives_its_number_back(cast, world):
    first = case_report(
        reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="1"
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        case_report(
            reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="2"
        )
        raise RuntimeError("the caller fails after the report")

    again = case_report(
        reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="3"
    )

    assert int(again.number[-6:]) == int(first.number[-6:]) + 1
