"""Two people acting on one case at the same moment, on two real database connections:
exactly one wins, the other is told the case changed, and nothing is half-written."""

import threading

import pytest
from django.db import connection, transaction

from cases.models import Case, CaseEvent, State
from cases.services import workflow
from cases.services.intake import case_report
from cases.services.transitions import StaleCase

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_thread(target, results, key):
    def runner():
        try:
            results[key] = target()
        except Exception as error:  # noqa: BLE001 - the test inspects what each side got
            results[key] = error
        finally:
            connection.close()

    thread = threading.Thread(target=runner)
    thread.start()
    return thread


def test_two_liaisons_accepting_at_once_one_wins_and_one_is_told_to_reload(cast, world):
    case = case_report(
        reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="垃圾"
    )
    first_updated, second_started = threading.Event(), threading.Event()
    results = {}

    def first():
        # Accept, then hold the transaction open until the other side is blocked on the row.
        with transaction.atomic():
            copy = Case.objects.get(pk=case.pk)
            workflow.case_accept(case=copy, actor=cast.liaison)
            first_updated.set()
            second_started.wait(timeout=5)
            threading.Event().wait(0.3)
        return copy.state

    def second():
        first_updated.wait(timeout=5)
        copy = Case.objects.get(pk=case.pk)  # still the old version: the first has not committed
        second_started.set()
        return workflow.case_accept(case=copy, actor=cast.liaison)

    threads = [run_in_thread(first, results, "first"), run_in_thread(second, results, "second")]
    for thread in threads:
        thread.join(timeout=15)

    assert results["first"] == State.IN_PROGRESS
    assert isinstance(results["second"], StaleCase)
    assert "changed" in str(results["second"])
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.state == State.IN_PROGRESS
    assert fresh.version == case.version + 1
    assert CaseEvent.objects.filter(case=case, action="accept").count() == 1


def test_a_return_racing_an_accept_leaves_exactly_one_of_them(cast, world):
    case = case_report(
        reporter=cast.caseworker, category=world.rubbish, cell=world.n1, description="垃圾"
    )
    barrier = threading.Barrier(2)
    results = {}

    def act(service, **kwargs):
        def target():
            copy = Case.objects.get(pk=case.pk)
            barrier.wait(timeout=5)
            return service(case=copy, actor=cast.liaison, **kwargs).state

        return target

    threads = [
        run_in_thread(act(workflow.case_accept), results, "accept"),
        run_in_thread(act(workflow.case_return, reason="不归我们"), results, "return"),
    ]
    for thread in threads:
        thread.join(timeout=15)

    outcomes = sorted(
        type(r).__name__ if isinstance(r, Exception) else "won" for r in results.values()
    )
    assert outcomes == ["StaleCase", "won"]
    fresh = Case.objects.get(pk=case.pk)
    winner = "accept" if results["accept"] == State.IN_PROGRESS else "return"
    assert fresh.state == {"accept": State.IN_PROGRESS, "return": State.FALLBACK}[winner]
    transitions = list(CaseEvent.objects.filter(case=case).values_list("action", flat=True))
    assert transitions == ["report", "route", winner]
