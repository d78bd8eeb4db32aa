"""The supervision page's daily roll-up (`SupervisionFigures`): on a randomized history,
the figures summed from it equal those counted straight from the audit trail, for any
period of days, a township or the whole district."""

import importlib
import random
import threading
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import (
    Avg,
    BigIntegerField,
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Case as CaseModel
from cases.models import CaseEvent, ExtensionRequest, State, SupervisionFigures
from cases.models.audit import DEPARTMENT_RETURN
from cases.models.supervision import SUPERVISION_FIELDS
from cases.selectors.supervision import (
    _LEAD,
    ACTING_DEPARTMENT,
    GIVING,
    REOPENED_DEPARTMENT,
    _flag,
    department_figures,
)
from cases.services import extensions, workflow
from cases.services.cell_moves import open_cases_follow_cells
from cases.services.intake import case_report
from cases.services.liaison import assist_report_for_duty
from cases.services.seeding import seed_cases
from cases.services.supervision import supervision_refresh
from cases.services.transitions import WorkflowError
from departments.models import Department, Responsibility, User
from departments.services import sync_role_group
from tests.conftest import correct_as_shown, make_user

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2026, 11, 16)
DAYS = 8


def figures_from_the_audit_trail(*, start: datetime, end: datetime, township_id=None):
    """The oracle: the figures counted straight from the period's audit rows, as the page
    did before the roll-up (one GROUP BY, correlated look-ups), a reopen counted for the
    department its row records (else the case's lead now)."""
    events = CaseEvent.objects.filter(at__gte=start, at__lt=end)
    extension_requests = ExtensionRequest.objects.filter(created_at__gte=start, created_at__lt=end)
    if township_id is not None:
        events = events.filter(case__township_id=township_id)
        extension_requests = extension_requests.filter(case__township_id=township_id)
    given_before_it = (
        events.filter(GIVING)
        .annotate(lead=_LEAD)
        .filter(case=OuterRef("case"), lead=OuterRef("department"), at__lte=OuterRef("at"))
    )
    resolved_before_it = events.filter(
        action="resolve", case=OuterRef("case"), at__lte=OuterRef("at")
    )
    assigned_at = (
        CaseEvent.objects.filter(
            case=OuterRef("case"), to_state=State.ASSIGNED, at__lte=OuterRef("at")
        )
        .order_by("-at", "-id")
        .values("at")[:1]
    )
    department_of_row = Case(
        When(GIVING, then=_LEAD),
        When(
            action="return", then=Cast(KeyTextTransform("returned_by", "data"), BigIntegerField())
        ),
        When(action="reopen", then=REOPENED_DEPARTMENT),
        default=ACTING_DEPARTMENT,
        output_field=BigIntegerField(),
    )
    accepted = Q(action="accept")
    rows = (
        events.filter(GIVING | DEPARTMENT_RETURN | Q(action__in=["accept", "resolve", "reopen"]))
        .annotate(department=department_of_row)
        .values("department")
        .annotate(
            given=Count("pk", filter=GIVING),
            returns=Count("pk", filter=DEPARTMENT_RETURN),
            returns_of_given=Count("pk", filter=DEPARTMENT_RETURN & Q(Exists(given_before_it))),
            accepts=Count("pk", filter=accepted),
            resolves=Count("pk", filter=Q(action="resolve")),
            reopens=Count("pk", filter=Q(action="reopen")),
            reopens_of_resolved=Count(
                "pk", filter=Q(action="reopen") & Q(Exists(resolved_before_it))
            ),
            accept_wait=Avg(
                ExpressionWrapper(F("at") - Subquery(assigned_at), output_field=DurationField()),
                filter=accepted,
            ),
        )
    )
    by_department = {row.pop("department"): row for row in rows}
    extension_rows = extension_requests.values("department_id").annotate(
        extensions=Count("pk"), extensions_approved=Count("pk", filter=Q(status="approved"))
    )
    extensions_of = {row.pop("department_id"): row for row in extension_rows}
    figures = []
    for department in Department.objects.order_by("code"):
        counts = {**by_department.get(department.pk, {}), **extensions_of.get(department.pk, {})}
        wait = counts.pop("accept_wait", None)
        figures.append(
            {
                "department": department.code,
                "accept_hours": wait / timedelta(hours=1) if wait is not None else None,
                **dict.fromkeys(COUNTS, 0),
                **counts,
            }
        )
    _flag_dicts(figures)
    return figures


COUNTS = (
    "given",
    "returns",
    "returns_of_given",
    "accepts",
    "resolves",
    "reopens",
    "reopens_of_resolved",
    "extensions",
    "extensions_approved",
)


def _flag_dicts(figures):
    """`cases.selectors.supervision._flag` on the oracle's figures."""
    from cases.selectors.supervision import DepartmentFigures

    objects = [
        DepartmentFigures(
            department=Department(code=f["department"]),
            accept_hours=f["accept_hours"],
            **{name: f[name] for name in COUNTS},
        )
        for f in figures
    ]
    _flag(objects)
    for figure, flagged in zip(figures, objects, strict=True):
        figure["flags"] = flagged.flags


def as_dicts(figures):
    return [
        {
            "department": f.department.code,
            "accept_hours": f.accept_hours,
            **{name: getattr(f, name) for name in COUNTS},
            "flags": f.flags,
        }
        for f in figures
    ]


def local(day: date, hour: float) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI) + timedelta(hours=hour)


def moments(rng: random.Random, count: int) -> list[datetime]:
    """Times over DAYS days, half of them within a quarter of an hour of local midnight."""
    times = []
    for _ in range(count):
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        if rng.random() < 0.5:
            times.append(local(day, 24 + rng.uniform(-0.25, 0.25)))
        else:
            times.append(local(day, rng.uniform(7, 22)))
    return sorted(times)


class History:
    """Random workflow steps through the services, as people would take them."""

    def __init__(self, rng, cast, world):
        self.rng, self.cast, self.world = rng, cast, world
        housing_liaison = make_user("zj_liaison", User.Role.LIAISON, department=world.housing)
        # A CG liaison who moves to ZJ half-way: their steps stay with CG.
        self.mover = make_user("mover", User.Role.LIAISON, department=world.urban)
        self.liaisons = {
            world.urban.pk: [cast.liaison, self.mover],
            world.market.pk: [cast.other_liaison],
            world.housing.pk: [housing_liaison],
        }
        self.departments = [world.urban, world.market, world.housing]
        self.cells = {world.north.pk: [world.n1, world.n2, world.n3], world.south.pk: [world.s1]}
        self.cases: list[int] = []
        self.supervisor = cast.district_supervisor
        sync_role_group(self.supervisor)

    def liaison(self, department_id):
        return self.rng.choice(self.liaisons[department_id]) if department_id else None

    def step(self):
        rng = self.rng
        if not self.cases or rng.random() < 0.15:
            return self.report()
        case = CaseModel.objects.get(pk=rng.choice(self.cases))
        try:
            with transaction.atomic():
                self.act(case)
        except WorkflowError:
            pass

    def report(self):
        world, rng = self.world, self.rng
        township = rng.choice([world.north, world.south])
        cell = rng.choice(self.cells[township.pk])
        reporter = self.cast.caseworker if township == world.north else self.cast.south_caseworker
        if cell.township_id != township.pk:
            return
        category = rng.choice([world.rubbish, world.stall, world.lamp])
        case = case_report(reporter=reporter, category=category, cell=cell, description="巡查发现")
        self.cases.append(case.pk)

    def dispatcher(self, case):
        if case.needs_arbitration:
            return self.supervisor
        if case.township_id == self.world.north.pk:
            return self.cast.dispatcher
        return self.cast.south_dispatcher

    def act(self, case):
        rng = self.rng
        liaison = self.liaison(case.lead_department_id)
        pending = case.extension_requests.filter(status=ExtensionRequest.Status.PENDING).first()
        if pending and rng.random() < 0.35:
            extensions.extension_decide(
                request=pending, approve=rng.random() < 0.5, actor=self.supervisor
            )
            return
        summoned = case.assists.filter(summoned=True, reported_at=None).first()
        if summoned and rng.random() < 0.5:
            assist_report_for_duty(case=case, actor=self.liaison(summoned.department_id))
            return
        choice = rng.random()
        if case.state == State.FALLBACK and choice < 0.2:
            self.correct(case)
        elif case.state == State.FALLBACK:
            lead = rng.choice(self.departments)
            others = [d for d in self.departments if d != lead]
            whistle = rng.random() < 0.4
            workflow.case_dispatch(
                case=case,
                actor=self.dispatcher(case),
                lead=lead,
                assisting=others[:1] if whistle else None,
                whistle=whistle,
            )
        elif case.state == State.ASSIGNED and choice < 0.4:
            workflow.case_accept(case=case, actor=liaison)
        elif case.state == State.ASSIGNED and choice < 0.65:
            workflow.case_return(case=case, actor=liaison, reason="不属于本部门")
        elif case.state == State.ASSIGNED and choice < 0.85:
            self.correct(case)
        elif case.state in (State.ASSIGNED, State.IN_PROGRESS) and choice < 0.3:
            extensions.extension_request(
                case=case, actor=liaison, reason="需要协调", extra_days=Decimal("1")
            )
        elif case.state == State.IN_PROGRESS:
            workflow.case_resolve(case=case, actor=liaison, note="已处置")
        elif case.state == State.RESOLVED and choice < 0.5:
            workflow.case_reopen(case=case, actor=self.caseworker(case), reason="仍未解决")
        elif case.state == State.RESOLVED:
            workflow.case_verify(case=case, actor=self.caseworker(case))

    def correct(self, case):
        """Another category or cell: routed again, maybe to another lead or the pool."""
        category = self.rng.choice([self.world.rubbish, self.world.stall, self.world.lamp])
        cell = self.rng.choice(self.cells[case.township_id])
        correct_as_shown(case, actor=self.dispatcher(case), category=category, cell=cell)

    def caseworker(self, case):
        north = case.township_id == self.world.north.pk
        return self.cast.caseworker if north else self.cast.south_caseworker

    def move_cell_to_south(self):
        """A boundary redrawn: N-03 and its open cases go to the south township."""
        world = self.world
        # One of its cases at least, with a counted step or two.
        case = case_report(
            reporter=self.cast.caseworker, category=world.rubbish, cell=world.n3, description="灯"
        )
        workflow.case_accept(case=case, actor=self.cast.liaison)
        self.cases.append(case.pk)
        world.n3.township = world.south
        world.n3.save()
        open_cases_follow_cells({world.n3.pk: world.south.pk})
        self.cells[world.north.pk].remove(world.n3)
        self.cells[world.south.pk].append(world.n3)

    def move_liaison(self):
        self.mover.department = self.world.housing
        self.mover.save()
        self.liaisons[self.world.urban.pk].remove(self.mover)
        self.liaisons[self.world.housing.pk].append(self.mover)


def periods():
    """(first, last) local days: the whole history, single days, a stretch in the middle,
    and days cutting it where returns of cases given the day before fall."""
    last_day = FIRST_DAY + timedelta(days=DAYS)
    yield FIRST_DAY - timedelta(days=1), last_day
    for offset in (0, 1, 3, DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        yield day, day
    yield FIRST_DAY + timedelta(days=2), FIRST_DAY + timedelta(days=5)
    yield FIRST_DAY + timedelta(days=4), last_day


def assert_equal_to_the_audit_trail(world):
    checked = 0
    for first, last in periods():
        start = datetime.combine(first, time.min, tzinfo=SHANGHAI)
        end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=SHANGHAI)
        for township_id in (None, world.north.pk, world.south.pk):
            expected = figures_from_the_audit_trail(start=start, end=end, township_id=township_id)
            rolled_up = as_dicts(
                department_figures(first=first, last=last, township_id=township_id)
            )
            for mine, theirs in zip(rolled_up, expected, strict=True):
                hours = mine.pop("accept_hours"), theirs.pop("accept_hours")
                assert mine == theirs, (first, last, township_id)
                assert hours[0] == pytest.approx(hours[1]), (first, last, township_id)
                checked += any(theirs[name] for name in COUNTS)
    return checked


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_the_roll_up_gives_the_figures_of_the_audit_trail_for_any_period_and_township(
    seed, cast, world
):
    Responsibility.objects.create(
        category=world.lamp, department=world.housing, role="lead", basis="权责清单 4"
    )
    rng = random.Random(seed)
    history = History(rng, cast, world)
    times = moments(rng, 240)
    for number, moment in enumerate(times):
        with time_machine.travel(moment, tick=False):
            history.step()
            if number == len(times) // 2:
                history.move_liaison()
            if number == 2 * len(times) // 3:
                history.move_cell_to_south()
            if rng.random() < 0.1:
                supervision_refresh()  # now and then, as the beat and page loads do
    with time_machine.travel(times[-1] + timedelta(minutes=1), tick=False):
        assert not supervision_refresh().rebuilt
    actions = set(CaseEvent.objects.values_list("action", flat=True))
    assert {"dispatch", "correct", "return", "accept", "resolve", "reopen"} <= actions
    assert {"report_for_duty", "move_township", "extension_approve", "extension_refuse"} <= actions
    statuses = set(ExtensionRequest.objects.values_list("status", flat=True))
    assert {"approved", "refused", "pending"} <= statuses
    # Returns of cases given on an earlier local day, which a period may cut off.
    assert any(
        timezone.localdate(event.at, SHANGHAI)
        != timezone.localdate(datetime.fromisoformat(event.data["given_at"]), SHANGHAI)
        for event in CaseEvent.objects.filter(DEPARTMENT_RETURN)
    )
    assert assert_equal_to_the_audit_trail(world) > 10

    # Rebuilt from scratch, the same rows.
    incremental = roll_up_rows()
    assert supervision_refresh(everything=True).rebuilt
    rebuilt = roll_up_rows()
    assert {row for row in incremental if any(row[4:])} == {row for row in rebuilt if any(row[4:])}


def roll_up_rows() -> set[tuple]:
    """Every row of the roll-up: its key, then its counts in SUPERVISION_FIELDS's order."""
    key = ("day", "township", "department", "given_day")
    return set(SupervisionFigures.objects.values_list(*key, *SUPERVISION_FIELDS))


def test_a_return_records_when_its_case_was_given_and_a_reopen_the_lead(report, cast, world):
    """The latest giving to the returning department, not an earlier one to it nor a later
    one to another; the reopened case's lead, which later steps may change."""
    case = report()  # routed to CG
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    with time_machine.travel(timezone.now() + timedelta(hours=5)):
        workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.urban)
    given = CaseEvent.objects.filter(case=case, action="dispatch").get().at
    with time_machine.travel(timezone.now() + timedelta(hours=30)):
        workflow.case_return(case=case, actor=cast.liaison, reason="仍不属于城管")
    first, second = CaseEvent.objects.filter(case=case, action="return").order_by("at")
    routed = CaseEvent.objects.get(case=case, action="route").at
    assert datetime.fromisoformat(first.data["given_at"]) == routed
    assert datetime.fromisoformat(second.data["given_at"]) == given

    fixed = report()
    workflow.case_accept(case=fixed, actor=cast.liaison)
    workflow.case_resolve(case=fixed, actor=cast.liaison, note="已清理")
    workflow.case_reopen(case=fixed, actor=cast.caseworker, reason="仍有垃圾")
    workflow.case_return(case=fixed, actor=cast.liaison, reason="不属于城管")  # no lead now
    reopen = CaseEvent.objects.get(case=fixed, action="reopen")
    assert reopen.data["department"] == world.urban.pk
    supervision_refresh()
    today = timezone.localdate()
    cg = next(f for f in department_figures(first=today, last=today) if f.department.code == "CG")
    assert cg.reopens == 1


def test_the_migration_records_on_earlier_audit_rows_what_supervision_read_from_elsewhere(
    report, cast, world
):
    """Rows written before 0030: the return gets the moment its case was given, the reopen
    the case's lead, the liaison's step the liaison's department; set-based."""
    migration = importlib.import_module("cases.migrations.0030_supervision_figures")
    case = report()
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        workflow.case_accept(case=case, actor=cast.liaison)
        workflow.case_resolve(case=case, actor=cast.liaison, note="已清理")
        workflow.case_reopen(case=case, actor=cast.caseworker, reason="仍有垃圾")
    returned = report()
    with time_machine.travel(timezone.now() + timedelta(hours=3)):
        workflow.case_return(case=returned, actor=cast.liaison, reason="不属于城管")
    # As they were written before: without what supervision reads now.
    for key in ("given_at", "department"):
        CaseEvent.objects.filter(data__has_key=key).update(data=RawSQL("data - %s", [key]))
    assert not CaseEvent.objects.filter(data__has_key="department").exists()
    with CaptureQueriesContext(connection) as queries, connection.schema_editor() as editor:
        migration.record_on_audit_rows(None, editor)
    updates = [q for q in queries.captured_queries if "UPDATE" in q["sql"]]
    assert len(updates) == 3  # one each, whatever the number of rows
    by_action = {e.action: e.data for e in CaseEvent.objects.exclude(action="route")}
    assert by_action["accept"]["department"] == by_action["resolve"]["department"] == world.urban.pk
    assert by_action["reopen"]["department"] == world.urban.pk
    routed = CaseEvent.objects.get(case=returned, action="route").at
    assert datetime.fromisoformat(by_action["return"]["given_at"]) == routed


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_audit_rows(
    client, cast, world, report, django_assert_num_queries
):
    client.force_login(cast.admin)
    client.get(reverse("admin:cases_supervision"))  # the first refresh: every row
    total = 0
    for count in (1, 10):
        for _ in range(count):
            case = report()
            workflow.case_accept(case=case, actor=cast.liaison)
            workflow.case_return(case=report(), actor=cast.liaison, reason="不属于城管")
        total += count
        with django_assert_num_queries(QUERIES):
            page = client.get(reverse("admin:cases_supervision"))
        cg = next(f for f in page.context["figures"] if f.department.code == "CG")
        assert (cg.given, cg.accepts, cg.returns) == (2 * total, total, total)


# The session and user; the refresh (savepoint, lock, mark, id sequence, open
# transactions, one UPDATE, one INSERT, the mark, release); the figures (the roll-up's
# sums, the departments).
QUERIES = 13


@pytest.mark.django_db(transaction=True)
def test_an_audit_row_committed_after_a_refresh_looked_is_counted_by_the_next(report, cast):
    """A step whose transaction is open during a refresh, with an audit id below one the
    refresh sees committed, is counted once it commits, and only once."""
    first, second = report(), report()
    supervision_refresh()
    written, refreshed = threading.Event(), threading.Event()

    def slow_liaison():
        try:
            with transaction.atomic():
                workflow.case_accept(case=CaseModel.objects.get(pk=first.pk), actor=cast.liaison)
                written.set()
                refreshed.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_liaison)
    thread.start()
    assert written.wait(timeout=10)
    workflow.case_accept(case=second, actor=cast.liaison)  # committed, a higher audit id
    supervision_refresh()
    refreshed.set()
    thread.join(timeout=10)
    supervision_refresh()
    supervision_refresh()
    today = timezone.localdate()
    cg = next(f for f in department_figures(first=today, last=today) if f.department.code == "CG")
    assert (cg.given, cg.accepts) == (2, 2)


@pytest.mark.django_db
def test_seeded_cases_give_the_figures_of_their_audit_trail():
    """`seed_demo` writes the audit rows the services write (a return's `given_at`, a
    liaison's and a reopen's department) and builds the roll-up."""
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    seed_cases(count=300, seed=5)
    today = timezone.localdate()
    zone = timezone.get_current_timezone()
    for first in (today - timedelta(days=29), today - timedelta(days=400)):
        start = datetime.combine(first, time.min, tzinfo=zone)
        end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone)
        expected = figures_from_the_audit_trail(start=start, end=end)
        rolled_up = as_dicts(department_figures(first=first, last=today))
        for mine, theirs in zip(rolled_up, expected, strict=True):
            assert mine.pop("accept_hours") == pytest.approx(theirs.pop("accept_hours"))
            assert mine == theirs
    assert sum(figure["returns_of_given"] for figure in expected) > 0
