"""The permission matrix of SPEC §2, checked from outside: every state × every transition ×
every actor, each fired the way that actor really would (the case page's forms, the fallback
pool's, the admin's buttons and its bulk accept), and forged where the page offered no form.

tests/cases/test_workflow.py checks the same rules one service call at a time (a transition
at one source state for each member of the cast); this file checks what a browser or a
script meets: the page offers exactly the transitions the user may fire now; an allowed one
moves the case as SPEC §2 says and writes its audit row (actor, time, from, to, comment),
with exactly one owner after it; a refused one answers with a message that says why (a 404
for a case the user may not see, the sign-in page for nobody), never a 500 or a silent
redirect, and changes nothing (state, version, owner, audit rows).

The expected matrix is written out below from SPEC §1–§2 and the README, not asked of the
code under test. Readings the product made (README, cases/permissions.py):
- administrators fire no transition: SPEC §1 gives them the reference data, not cases;
- a dispatcher cancels any open case of the township, not only one in the pool (a
  duplicate may be found after dispatch), a suspended one and one waiting for arbitration;
- a supervisor with no township is the district's and acts on every township's cases;
- a case whose lead an arbitration named cannot be returned by that lead ("the decision
  is final", it is told);
- a case is refused for its state before it is refused for its user: "a case in the state
  … cannot be given …" whoever asks, "you may not …" only from a state it leaves;
- a liaison whose department returned a case no longer sees it; their bulk accept of it
  names it as "changed meanwhile" (README: told a case moved on, not that there is none);
- `reported` is transient (intake routes in the same transaction): no case rests there.

The world is built once per module (xdist worker) in a transaction rolled back at its end;
each test acts inside a savepoint rolled back after it, so every test starts from the same
cases."""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import TERMINAL_STATES, Case, CaseEvent, State
from cases.services import arbitration, workflow
from cases.services.intake import case_report
from departments.models import Responsibility, User
from departments.services import sync_role_groups
from tests.conftest import build_cast, build_world, make_user

# One xdist worker runs the module whole: spread in chunks between other modules' tests,
# its world (`matrix`, built once per module, ~7 s) would be built again at each return.
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("transition-matrix")]

# -- the expected matrix, from SPEC §1–§2 ------------------------------------------------

# The cases, one per state (two in the pool, two assigned), all in the north township, in
# the environment category that the urban department (CG) leads and housing (ZJ) assists.
VARIANTS = {
    "fallback": State.FALLBACK,  # returned once by CG; ZJ still assists
    "arbitration": State.FALLBACK,  # returned twice by CG: waits for a supervisor
    "assigned": State.ASSIGNED,
    "assigned_final": State.ASSIGNED,  # CG named by an arbitration: it cannot return it
    "in_progress": State.IN_PROGRESS,
    "resolved": State.RESOLVED,
    "closed": State.CLOSED,
    "suspended": State.SUSPENDED,  # suspended while in progress
    "suspended_pool": State.SUSPENDED,  # suspended in the pool (returned once)
    "cancelled": State.CANCELLED,
}

ACTORS = [
    "caseworker",  # of the north township, the case's
    "south_caseworker",
    "dispatcher",  # of the north township
    "south_dispatcher",
    "lead_liaison",  # of CG, the lead department (or the one that returned the case)
    "assist_liaison",  # of ZJ, the assisting department
    "other_liaison",  # of SJ, which has nothing to do with the case
    "supervisor",  # of the north township
    "district_supervisor",  # no township: the district's
    "south_supervisor",
    "admin",
    "anonymous",
]

NORTH_STAFF = {"caseworker", "dispatcher", "supervisor", "district_supervisor", "admin"}
NOT_IN_POOL = {"assigned", "assigned_final", "in_progress", "resolved", "closed", "suspended"}
# Who may see each case (README: liaisons see their department's cases, as lead or assisting).
SEES = {
    **{actor: set(VARIANTS) for actor in NORTH_STAFF},
    "lead_liaison": NOT_IN_POOL | {"cancelled"},  # not the cases CG returned
    "assist_liaison": set(VARIANTS),
    "other_liaison": set(),
    "south_caseworker": set(),
    "south_dispatcher": set(),
    "south_supervisor": set(),
    "anonymous": set(),
}

SUPERVISORS = {"supervisor", "district_supervisor"}
CLOCK_VARIANTS = ["fallback", "arbitration", "assigned", "assigned_final", "in_progress"]
# transition → {case: the actors who may fire it there}; anything not listed is refused.
ALLOWED = {
    "dispatch": {"fallback": {"dispatcher", *SUPERVISORS}, "arbitration": SUPERVISORS},
    "accept": {"assigned": {"lead_liaison"}, "assigned_final": {"lead_liaison"}},
    "return": {"assigned": {"lead_liaison"}, "in_progress": {"lead_liaison"}},
    "resolve": {"in_progress": {"lead_liaison"}},
    "verify": {"resolved": {"caseworker"}},
    "reopen": {"resolved": {"caseworker"}},
    "suspend": {variant: SUPERVISORS for variant in CLOCK_VARIANTS},
    "resume": {"suspended": SUPERVISORS, "suspended_pool": SUPERVISORS},
    "cancel": {
        variant: {"dispatcher", *SUPERVISORS}
        for variant in [*CLOCK_VARIANTS, "suspended", "suspended_pool"]
    },
}
TRANSITIONS = list(ALLOWED)
# The states each transition leaves from (SPEC §2), whoever asks.
SOURCES = {
    "dispatch": {State.FALLBACK},
    "accept": {State.ASSIGNED},
    "return": {State.ASSIGNED, State.IN_PROGRESS},
    "resolve": {State.IN_PROGRESS},
    "verify": {State.RESOLVED},
    "reopen": {State.RESOLVED},
    "suspend": {State.FALLBACK, State.ASSIGNED, State.IN_PROGRESS},
    "resume": {State.SUSPENDED},
    "cancel": {State.FALLBACK, State.ASSIGNED, State.IN_PROGRESS, State.SUSPENDED},
}
TARGET = {
    "dispatch": State.ASSIGNED,
    "accept": State.IN_PROGRESS,
    "return": State.FALLBACK,
    "resolve": State.RESOLVED,
    "verify": State.CLOSED,
    "reopen": State.IN_PROGRESS,
    "suspend": State.SUSPENDED,
    "resume": None,  # where the suspended case was: RESUMED_TO
    "cancel": State.CANCELLED,
}
RESUMED_TO = {"suspended": State.IN_PROGRESS, "suspended_pool": State.FALLBACK}


def target(name: str, variant: str) -> str:
    return RESUMED_TO[variant] if name == "resume" else TARGET[name]


# README: "dispatchers and supervisors correct category or cell before acceptance, which
# routes again (a case awaiting or decided by arbitration: its supervisors only)". Not a
# transition of SPEC §2, but it fires one (a correction's routing: dispatch or return).
CORRECT = {
    "fallback": {"dispatcher", *SUPERVISORS},
    "arbitration": SUPERVISORS,
    "assigned": {"dispatcher", *SUPERVISORS},
    "assigned_final": SUPERVISORS,
}

# What each transition's form says, and the field the audit row's comment comes from.
WORDS = {
    "dispatch": ("comment", "城管牵头处理：垃圾清运属其职责"),
    "accept": (None, ""),
    "return": ("reason", "不属于我局职责"),
    "resolve": ("note", "已清理完毕"),
    "verify": ("comment", "现场已核实"),
    "reopen": ("reason", "现场仍有垃圾"),
    "suspend": ("reason", "待专项整治"),
    "resume": ("comment", "专项整治开始"),
    "cancel": ("reason", "重复上报"),
}


def allowed(transition: str, variant: str, actor: str) -> bool:
    return actor in ALLOWED[transition].get(variant, set())


def offered(variant: str, actor: str) -> list[str]:
    return [name for name in TRANSITIONS if allowed(name, variant, actor)]


def test_the_matrix_agrees_with_itself():
    """Each allowed step leaves from one of its source states and is by someone who sees
    the case: a slip in the table above would make the tests below prove nothing."""
    for name, by_variant in ALLOWED.items():
        for variant, actors in by_variant.items():
            assert VARIANTS[variant] in SOURCES[name], (name, variant)
            assert actors <= {actor for actor in ACTORS if variant in SEES[actor]}, name


# -- the world, built once -----------------------------------------------------------------


@dataclass
class Matrix:
    users: dict[str, User]
    cases: dict[str, Case]
    world: object


@pytest.fixture(scope="module")
def matrix(django_db_setup, django_db_blocker):
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast, transaction.atomic():
        world = build_world()
        cast = build_cast(world)
        Responsibility.objects.create(
            category=world.environment, department=world.housing, role="assist", basis="协办"
        )
        role = User.Role
        users = {
            "caseworker": cast.caseworker,
            "south_caseworker": cast.south_caseworker,
            "dispatcher": cast.dispatcher,
            "south_dispatcher": cast.south_dispatcher,
            "lead_liaison": cast.liaison,
            "assist_liaison": make_user("zj_liaison", role.LIAISON, department=world.housing),
            "other_liaison": cast.other_liaison,
            "supervisor": cast.supervisor,
            "district_supervisor": cast.district_supervisor,
            "south_supervisor": make_user(
                "south_supervisor", role.SUPERVISOR, township=world.south
            ),
            "admin": cast.admin,
        }
        # As in production: supervisors work in the admin too (arbitration, extensions).
        sync_role_groups(users=users.values())
        cases = {name: _case_in(name, users, world) for name in VARIANTS}
        yield Matrix(users=users, cases=cases, world=world)
        transaction.set_rollback(True)


def _case_in(variant: str, users: dict[str, User], world) -> Case:
    case = case_report(
        reporter=users["caseworker"],
        category=world.rubbish,
        cell=world.n1,
        description=f"路边堆放垃圾（{variant}）",
    )
    assert case.state == State.ASSIGNED and case.lead_department == world.urban
    lead, dispatcher, supervisor = users["lead_liaison"], users["dispatcher"], users["supervisor"]
    if variant in ("fallback", "arbitration", "assigned_final", "suspended_pool"):
        workflow.case_return(case=case, actor=lead, reason="不属于城管")
        if variant in ("arbitration", "assigned_final"):
            workflow.case_dispatch(
                case=case, actor=dispatcher, lead=world.urban, assisting=[world.housing]
            )
            workflow.case_return(case=case, actor=lead, reason="仍不属于城管")
        if variant == "assigned_final":
            arbitration.case_arbitrate(
                case=case,
                actor=supervisor,
                lead=world.urban,
                assisting=[world.housing],
                reason="清单明确由城管负责",
            )
    if variant in ("in_progress", "resolved", "closed", "suspended"):
        workflow.case_accept(case=case, actor=lead)
    if variant in ("resolved", "closed"):
        workflow.case_resolve(case=case, actor=lead, note="已处理")
    if variant == "closed":
        workflow.case_verify(case=case, actor=users["caseworker"], satisfaction=5)
    if variant in ("suspended", "suspended_pool"):
        workflow.case_suspend(case=case, actor=supervisor, reason="挂账")
    if variant == "cancelled":
        workflow.case_cancel(case=case, actor=dispatcher, reason="重复")
    assert case.state == VARIANTS[variant]
    assert case.needs_arbitration == (variant == "arbitration")
    assert case.lead_is_final == (variant == "assigned_final")
    assert set(case.assists.values_list("department_id", flat=True)) == {world.housing.pk}
    return case


@pytest.fixture
def acting(matrix):
    """The module's world, as it was built: whatever a test does is rolled back (each test
    runs in a savepoint of the module's transaction, as pytest-django's `django_db` does)."""
    return matrix


def client_of(matrix: Matrix, actor: str) -> Client:
    client = Client()
    if actor != "anonymous":
        client.force_login(matrix.users[actor])
    return client


# -- what is checked after each request ---------------------------------------------------


def fingerprint(case: Case) -> tuple:
    """Everything a refused step must leave as it was."""
    row = Case.objects.filter(pk=case.pk).values(
        "state",
        "version",
        "lead_department_id",
        "return_count",
        "lead_is_final",
        "suspended_from",
        "duplicate_of_id",
        "due_at",
        "closed_at",
        "satisfaction",
    )
    return (
        row.get(),
        sorted(case.assists.values_list("department_id", "summoned")),
        list(CaseEvent.objects.filter(case=case).order_by("id").values_list("id", flat=True)),
    )


def one_owner(case: Case) -> str | None:
    """SPEC §2: a non-terminal case has exactly one owner, a department or its township's
    pool (the same rule as tests/cases/test_invariants.py); None when it holds."""
    if case.state in TERMINAL_STATES:
        return None
    if case.state == State.REPORTED or case.township_id is None:
        return f"{case.state} in no township"
    in_pool = case.state == State.FALLBACK or (
        case.state == State.SUSPENDED and case.suspended_from == State.FALLBACK
    )
    if in_pool == (case.lead_department_id is not None):
        return f"{case.state}: pool={in_pool}, department={case.lead_department_id}"
    return None


def messages_of(client: Client, response) -> list[tuple[int, str]]:
    """The messages this request queued (not those of earlier ones, left in the cookie)."""
    texts = [(m.level, str(m)) for m in get_messages(response.wsgi_request)]
    client.cookies.pop("messages", None)
    return texts


def check_allowed(name, case, before, response, messages, actor, *, landing) -> list[str]:
    """What an allowed step must have done; the problems found, or none."""
    problems = []
    wanted_state = target(name, VARIANTS_BY_PK[case.pk])
    fresh = Case.objects.get(pk=case.pk)
    if response.status_code != 302 or response["Location"].split("#")[0] not in landing:
        problems.append(f"answered {response.status_code} {response.get('Location')}")
    if not any(level == message_levels.SUCCESS and case.number in t for level, t in messages):
        problems.append(f"no success message: {messages}")
    if fresh.state != wanted_state:
        problems.append(f"state {fresh.state}, not {wanted_state}")
    if fresh.version != before[0]["version"] + 1:
        problems.append(f"version {before[0]['version']} → {fresh.version}")
    # The step's own row; a whistle's summons or a lapsed extension request write rows
    # that change no state.
    new_rows = CaseEvent.objects.filter(case=case).exclude(pk__in=before[2])
    changes = [row for row in new_rows if row.to_state and row.from_state != row.to_state]
    if len(changes) != 1:
        problems.append(f"{len(changes)} audit rows of a state change")
    else:
        (event,) = changes
        field, text = WORDS[name]
        got = (event.action, event.from_state, event.to_state, event.actor_id, event.comment)
        wanted = (name, case.state, wanted_state, actor.pk, text)
        if got != wanted:
            problems.append(f"audit row {got}, not {wanted}")
        if abs(event.at - timezone.now()) > timedelta(minutes=1):
            problems.append(f"audit row at {event.at}")
    if owner := one_owner(fresh):
        problems.append(f"owners: {owner}")
    return problems


def check_refused(name, case, before, response, messages, actor_name, *, page) -> list[str]:
    """What a refused step must have done (nothing) and said; the problems found."""
    problems = []
    if fingerprint(case) != before:
        problems.append("changed the case")
    if actor_name == "anonymous":
        if response.status_code != 302 or "/login/" not in response["Location"]:
            problems.append(f"anonymous answered {response.status_code}")
        return problems
    if VARIANTS_BY_PK[case.pk] not in SEES[actor_name]:
        if response.status_code != 404:
            problems.append(f"a case out of sight answered {response.status_code}")
        return problems
    if response.status_code != 302 or response["Location"] != page:
        problems.append(f"answered {response.status_code} {response.get('Location')}")
    errors = [text for level, text in messages if level == message_levels.ERROR]
    if not errors or not all(case.number in text for text in errors):
        problems.append(f"no error message naming the case: {messages}")
    else:
        variant = VARIANTS_BY_PK[case.pk]
        if variant not in SOURCE_VARIANTS[name]:
            why = "cannot be given"
        elif (name, variant, actor_name) == ("return", "assigned_final", "lead_liaison"):
            why = "the decision is final"  # its page, opened before the arbitration
        else:
            why = "You may not"
        if not any(why in text for text in errors):
            problems.append(f"says {errors}, not “{why}…”")
    if any(level == message_levels.SUCCESS for level, _text in messages):
        problems.append(f"says it was done: {messages}")
    return problems


# Filled by `variant_case` as tests run: which variant each case is.
VARIANTS_BY_PK: dict[int, str] = {}
# The variants each transition may leave from, for someone (by state and arbitration).
SOURCE_VARIANTS = {
    name: {variant for variant, state in VARIANTS.items() if state in sources}
    for name, sources in SOURCES.items()
}


def variant_case(matrix, variant) -> Case:
    case = Case.objects.get(pk=matrix.cases[variant].pk)
    VARIANTS_BY_PK[case.pk] = variant
    return case


def form_data(name: str, case: Case, matrix: Matrix) -> dict:
    data = {"expected_version": case.version}
    field, text = WORDS[name]
    if field:
        data[field] = text
    if name == "dispatch":
        data["lead"] = matrix.world.urban.pk
    if name == "verify":
        data["satisfaction"] = "4"
    return data


def tried_by(actor: str, variant: str) -> list[str]:
    """The transitions to post: all of them on a case the actor sees; on one they do not,
    those someone could fire from its state (each answers the same 404 before the
    transition is looked at: tests/test_isolation_matrix.py posts every one)."""
    if variant in SEES[actor]:
        return TRANSITIONS
    return [name for name in TRANSITIONS if variant in SOURCE_VARIANTS[name]] or ["verify"]


# -- the case page ---------------------------------------------------------------------------

TRANSITION_ACTION = re.compile(r'action="/cases/(\d{4}-\d{6,})/([a-z_]+)/"')


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_case_page_offers_and_does_exactly_the_transitions_spec_allows(acting, variant, actor):
    """The page offers a form for exactly the transitions the actor may fire now; then
    every transition, offered or forged, is posted by this actor on this case, each in a
    savepoint undone after it, so that each meets the case as it was."""
    client = client_of(acting, actor)
    case = variant_case(acting, variant)
    page = client.get(reverse("cases:detail", args=[case.number]))
    if actor == "anonymous":
        assert page.status_code == 302 and "/login/" in page["Location"]
    elif variant not in SEES[actor]:
        assert page.status_code == 404
    else:
        assert page.status_code == 200
        forms = [
            name
            for number, name in TRANSITION_ACTION.findall(page.content.decode())
            if number == case.number and name in ALLOWED
        ]
        assert forms == offered(variant, actor)
        # And the correction of category or cell (tested below) exactly to those who may.
        correction = f'action="/cases/{case.number}/correct/"' in page.content.decode()
        assert correction == (actor in CORRECT.get(variant, set()))

    user = acting.users.get(actor)
    problems = {}
    for name in tried_by(actor, variant):
        with transaction.atomic():
            case = variant_case(acting, variant)
            page = reverse("cases:detail", args=[case.number])
            before = fingerprint(case)
            response = client.post(
                reverse("cases:transition", args=[case.number, name]),
                form_data(name, case, acting),
            )
            said = messages_of(client, response)
            if allowed(name, variant, actor):
                found = check_allowed(
                    name, case, before, response, said, user, landing={page, "/cases/"}
                )
            else:
                found = check_refused(name, case, before, response, said, actor, page=page)
            if found:
                problems[name] = found
            transaction.set_rollback(True)
    assert problems == {}


# -- the fallback pool ---------------------------------------------------------------------

POOL_ACTORS = [actor for actor in ACTORS if actor != "anonymous"]


@pytest.mark.parametrize("actor", POOL_ACTORS)
@pytest.mark.parametrize("variant", ["fallback", "arbitration"])
def test_the_pool_offers_and_takes_a_dispatch_exactly_from_those_who_may(acting, variant, actor):
    client = client_of(acting, actor)
    case = variant_case(acting, variant)
    pool = client.get(reverse("cases:fallback"))
    liaison = actor.endswith("liaison")
    assert pool.status_code == (403 if liaison else 200)
    button = f'formaction="/cases/{case.number}/dispatch/"'.encode()
    assert (button in pool.content) == allowed("dispatch", variant, actor)
    if not liaison:
        listed = case.number.encode() in pool.content
        assert listed == (variant in SEES[actor])

    # The pool's one form, posted by the case's button, with the page to come back to.
    before = fingerprint(case)
    data = {**form_data("dispatch", case, acting), "next": reverse("cases:fallback")}
    data[f"assisting-{case.number}"] = [acting.world.housing.pk]
    response = client.post(reverse("cases:transition", args=[case.number, "dispatch"]), data)
    said = messages_of(client, response)
    if allowed("dispatch", variant, actor):
        problems = check_allowed(
            "dispatch",
            case,
            before,
            response,
            said,
            acting.users[actor],
            landing={reverse("cases:fallback")},
        )
    else:
        problems = check_refused(
            "dispatch", case, before, response, said, actor, page=reverse("cases:fallback")
        )
    assert problems == []


# -- the admin: buttons on a case's page, and the changelist's bulk accept -------------------

# Admin buttons → the transition each fires (arbitrate: the dispatch of a case returned twice).
BUTTON_TRANSITION = {
    "accept": "accept",
    "return": "return",
    "resolve": "resolve",
    "arbitrate": "dispatch",
}
ADMIN_ACTORS = [
    "lead_liaison",
    "assist_liaison",
    "other_liaison",
    "supervisor",
    "district_supervisor",
    "south_supervisor",
    "admin",
]


def button_allowed(button: str, variant: str, actor: str) -> bool:
    if button == "arbitrate" and variant != "arbitration":
        return False
    return allowed(BUTTON_TRANSITION[button], variant, actor)


def button_data(button: str, case: Case, matrix: Matrix) -> dict:
    data = {"version": case.version}
    if button == "return":
        data["reason"] = WORDS["return"][1]
    if button == "resolve":
        data["note"] = WORDS["resolve"][1]
    if button == "arbitrate":
        data.update(lead=matrix.world.urban.pk, reason=WORDS["dispatch"][1])
        data["assisting"] = [matrix.world.housing.pk]
    return data


@pytest.mark.parametrize("actor", ADMIN_ACTORS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_admin_buttons_are_offered_and_pressed_exactly_as_spec_says(acting, variant, actor):
    client = client_of(acting, actor)
    case = variant_case(acting, variant)
    change = reverse("admin:cases_case_change", args=[case.pk])
    page = client.get(change)
    if variant not in SEES[actor]:
        assert page.status_code in (302, 404)
        if page.status_code == 302:  # the admin sends a missing object to its index
            assert not page["Location"].endswith(change)
    else:
        assert page.status_code == 200
        shown = re.findall(rf"/admin/cases/case/{case.pk}/act/([a-z-]+)/", page.content.decode())
        shown = [name for name in dict.fromkeys(shown) if name in BUTTON_TRANSITION]
        assert shown == [b for b in BUTTON_TRANSITION if button_allowed(b, variant, actor)]

    problems = {}
    pressed = BUTTON_TRANSITION if variant in SEES[actor] else {"accept": "accept"}
    for button, name in pressed.items():
        with transaction.atomic():
            case = variant_case(acting, variant)
            before = fingerprint(case)
            response = client.post(
                reverse("admin:cases_case_act", args=[case.pk, button]),
                button_data(button, case, acting),
            )
            said = messages_of(client, response)
            if button_allowed(button, variant, actor):
                found = check_allowed(
                    name,
                    case,
                    before,
                    response,
                    said,
                    acting.users[actor],
                    landing={change, reverse("admin:cases_case_changelist")},
                )
            else:
                found = check_refused_in_admin(button, case, before, response, said, actor)
            if found:
                problems[button] = found
            transaction.set_rollback(True)
    assert problems == {}


def check_refused_in_admin(button, case, before, response, messages, actor) -> list[str]:
    problems = []
    if fingerprint(case) != before:
        problems.append("changed the case")
    if VARIANTS_BY_PK[case.pk] not in SEES[actor]:
        if response.status_code != 404:
            problems.append(f"a case out of sight answered {response.status_code}")
        return problems
    change = reverse("admin:cases_case_change", args=[case.pk])
    if response.status_code != 302 or response["Location"] != change:
        problems.append(f"answered {response.status_code} {response.get('Location')}")
    errors = [text for level, text in messages if level == message_levels.ERROR]
    if not errors or not all(case.number in text for text in errors):
        problems.append(f"no error message naming the case: {messages}")
    if any(level == message_levels.SUCCESS for level, _text in messages):
        problems.append(f"says it was done: {messages}")
    return problems


@pytest.mark.parametrize("actor", ["lead_liaison", "assist_liaison", "other_liaison"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_bulk_accept_accepts_exactly_what_the_liaison_may_accept(acting, variant, actor):
    client = client_of(acting, actor)
    case = variant_case(acting, variant)
    before = fingerprint(case)
    response = client.post(
        reverse("admin:cases_case_changelist"),
        {"action": "accept_selected", helpers.ACTION_CHECKBOX_NAME: [case.pk]},
    )
    said = messages_of(client, response)
    assert response.status_code == 302
    if allowed("accept", variant, actor):
        changelist = reverse("admin:cases_case_changelist")
        user = acting.users[actor]
        problems = check_allowed("accept", case, before, response, said, user, landing={changelist})
        assert problems == []
        return
    assert fingerprint(case) == before
    assert not any(level == message_levels.SUCCESS for level, _text in said), said
    if variant in SEES[actor]:
        # Seen, so named: the refusal says which case and why.
        assert any(level == message_levels.ERROR and case.number in text for level, text in said), (
            said
        )
    elif (actor, variant) in PASSED_ON:
        # Out of sight since the liaison's own department returned it: named, as a case
        # that "changed meanwhile" (README: a liaison is told a case moved on, not that
        # there is no such case).
        assert any(level == message_levels.ERROR and case.number in text for level, text in said), (
            said
        )
    else:
        # Never seen: not named either (tests/cases/test_admin_liaison_actions.py), but not
        # passed over in silence: the liaison ticked a case, and nothing was done.
        assert not any(case.number in text for _level, text in said), said
        assert [level for level, _text in said] == [message_levels.ERROR], said


# The cases a liaison no longer sees but whose audit trail names their department.
PASSED_ON = {("lead_liaison", variant) for variant in ("fallback", "arbitration", "suspended_pool")}


# -- a correction (category or cell), which routes the case again --------------------------


@pytest.mark.parametrize("actor", [actor for actor in ACTORS if actor != "anonymous"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_correction_is_offered_and_done_exactly_by_those_who_may(acting, variant, actor):
    client = client_of(acting, actor)
    case = variant_case(acting, variant)
    may = actor in CORRECT.get(variant, set())
    detail = reverse("cases:detail", args=[case.number])
    # Whether the page offers it: test_the_case_page_offers_and_does_exactly_….
    before = fingerprint(case)
    # To a category no rule covers: the case goes to (or stays in) the pool.
    response = client.post(
        reverse("cases:correct", args=[case.number]),
        {
            "expected_version": case.version,
            "category": acting.world.lamp.pk,
            "cell": acting.world.n1.pk,
        },
    )
    said = messages_of(client, response)
    if variant not in SEES[actor]:
        assert response.status_code == 404
        assert fingerprint(case) == before
        return
    assert response.status_code == 302 and response["Location"] == detail
    fresh = Case.objects.get(pk=case.pk)
    if not may:
        assert fingerprint(case) == before
        assert [level for level, _text in said] == [message_levels.ERROR], said
        assert case.number in said[0][1]
        return
    assert [level for level, _text in said] == [message_levels.SUCCESS], said
    assert (fresh.state, fresh.category_id, fresh.lead_department_id) == (
        State.FALLBACK,
        acting.world.lamp.pk,
        None,
    )
    rows = list(CaseEvent.objects.filter(case=case).exclude(pk__in=before[2]).order_by("id"))
    assert rows[0].action == "correct" and rows[0].actor == acting.users[actor]
    assert rows[0].from_state == rows[0].to_state == case.state
    changes = [(row.action, row.from_state, row.to_state) for row in rows[1:]]
    from_assigned = [("return", State.ASSIGNED, State.FALLBACK)]
    assert changes == (from_assigned if case.state == State.ASSIGNED else [])
    # Not a department's dispute: the returns that lead to arbitration are not counted.
    assert fresh.return_count == case.return_count
    assert one_owner(fresh) is None


# -- what a step reads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "actor", "url_name", "data"),
    [
        ("assigned", "lead_liaison", "cases:transition", {"transition": "accept"}),
        ("resolved", "caseworker", "cases:transition", {"transition": "verify"}),
        ("assigned", "dispatcher", "cases:correct", {}),
    ],
)
def test_a_step_posted_to_the_case_page_reads_no_timeline_notes_or_photos(
    acting, variant, actor, url_name, data
):
    """A step needs the case, not its page: the page's timeline, notes and photos, read
    for every POST, cost a step on a case with a long history the whole history."""
    client = client_of(acting, actor)
    case = variant_case(acting, variant)
    args = [case.number, *data.values()]
    posted = {**form_data(data.get("transition", "accept"), case, acting)}
    if url_name == "cases:correct":
        posted.update(category=acting.world.lamp.pk, cell=acting.world.n1.pk)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse(url_name, args=args), posted)
    assert response.status_code == 302
    assert any(m[0] == message_levels.SUCCESS for m in messages_of(client, response))
    read = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    for table in ("cases_casenote", "cases_casephoto"):
        assert not [sql for sql in read if f'FROM "{table}"' in sql], table
    timeline = [sql for sql in read if 'FROM "cases_caseevent"' in sql]
    assert not [sql for sql in timeline if '"cases_caseevent"."case_id" IN' in sql], timeline
