"""The standard cast and a small world for tests: two townships of unit-square cells,
three departments, a category tree, and one user of every role."""

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import translation

from departments.models import Category, Department, GridCell, Responsibility, Township, User

BASE_LNG, BASE_LAT, STEP = 120.0, 30.0, 0.01


def pytest_report_header(config):
    """Which database the suite runs on: without DATABASE_URL the settings' default is an
    SQLite file, on which the tests of PostgreSQL's own work (query counts, locks, the
    search index) fail; `make test` sets it."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"database: PostgreSQL {settings['NAME']} at {settings['HOST']}:{settings['PORT']}"
    return (
        f"database: {connection.display_name}: the suite is meant for PostgreSQL; set "
        "DATABASE_URL, as make test does from TEST_DATABASE_URL"
    )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The real hasher costs ~0.3 s per user; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def language_of_the_test_alone():
    """LocaleMiddleware activates a request's language in the thread and leaves it active:
    a test run after a Chinese page in the same worker printed a command's output in
    Chinese. Each test starts from LANGUAGE_CODE."""
    yield
    translation.deactivate()


def square(col: int, row: int = 0) -> dict:
    west, south = BASE_LNG + col * STEP, BASE_LAT + row * STEP
    east, north = west + STEP, south + STEP
    return {
        "type": "Polygon",
        "coordinates": [
            [[west, south], [east, south], [east, north], [west, north], [west, south]]
        ],
    }


def centre_of(col: int, row: int = 0) -> tuple[float, float]:
    """(lat, lng) of the middle of the cell at (col, row)."""
    return BASE_LAT + (row + 0.5) * STEP, BASE_LNG + (col + 0.5) * STEP


def make_cell(code: str, township: Township, col: int, row: int = 0) -> GridCell:
    boundary = square(col, row)
    ring = boundary["coordinates"][0]
    return GridCell.objects.create(
        code=code,
        name=f"网格 {code}",
        township=township,
        boundary=boundary,
        min_lng=min(p[0] for p in ring),
        max_lng=max(p[0] for p in ring),
        min_lat=min(p[1] for p in ring),
        max_lat=max(p[1] for p in ring),
    )


def make_user(username: str, role: str, **extra) -> User:
    user = User.objects.create_user(
        username=username,
        password="pass-for-tests-1",
        email=f"{username}@example.org",
        full_name=username.title(),
        role=role,
        is_staff=role in (User.Role.LIAISON, User.Role.ADMIN),
        is_superuser=role == User.Role.ADMIN,
        **extra,
    )
    return user


@dataclass
class World:
    north: Township
    south: Township
    n1: GridCell
    n2: GridCell
    n3: GridCell
    s1: GridCell
    urban: Department
    market: Department
    housing: Department
    environment: Category
    rubbish: Category
    stall: Category
    lamp: Category


@pytest.fixture
def world(db) -> World:
    return build_world()


def build_world() -> World:
    """The world of the `world` fixture, for fixtures of a wider scope that build it once."""
    north = Township.objects.create(code="N", name="北街道")
    south = Township.objects.create(code="S", name="南街道")
    n1, n2, n3 = (make_cell(f"N-0{i}", north, i - 1) for i in (1, 2, 3))
    s1 = make_cell("S-01", south, 5)
    urban = Department.objects.create(
        code="CG", name="城管局", supervisor_emails="cg-boss@example.org"
    )
    market = Department.objects.create(
        code="SJ", name="市场监管局", supervisor_emails="sj-boss@example.org"
    )
    housing = Department.objects.create(
        code="ZJ", name="住建局", supervisor_emails="zj-boss@example.org"
    )
    environment = Category.objects.create(
        code="ENV", name="环境卫生", accept_hours=Decimal("4"), resolve_days=Decimal("3")
    )
    rubbish = Category.objects.create(
        code="ENV-RUBBISH",
        name="暴露垃圾",
        parent=environment,
        accept_hours=Decimal("2"),
        resolve_days=Decimal("1"),
    )
    stall = Category.objects.create(
        code="STALL", name="占道经营", accept_hours=Decimal("2"), resolve_days=Decimal("2")
    )
    lamp = Category.objects.create(
        code="LAMP", name="路灯损坏", accept_hours=Decimal("8"), resolve_days=Decimal("5")
    )
    Responsibility.objects.create(
        category=environment, department=urban, role="lead", basis="权责清单 1"
    )
    Responsibility.objects.create(category=stall, department=urban, role="lead", basis="权责清单 2")
    Responsibility.objects.create(
        category=stall, department=market, role="lead", basis="权责清单 3"
    )
    return World(
        north, south, n1, n2, n3, s1, urban, market, housing, environment, rubbish, stall, lamp
    )


@dataclass
class Cast:
    caseworker: User
    dispatcher: User
    liaison: User  # of the urban-management department (CG)
    other_liaison: User  # of the market-regulation department (SJ)
    supervisor: User  # of the north township
    district_supervisor: User
    admin: User
    south_caseworker: User
    south_dispatcher: User


@pytest.fixture
def cast(world) -> Cast:
    return build_cast(world)


def build_cast(world: World) -> Cast:
    """The cast of the `cast` fixture, for fixtures of a wider scope that build it once."""
    role = User.Role
    return Cast(
        caseworker=make_user("caseworker", role.CASEWORKER, township=world.north),
        dispatcher=make_user("dispatcher", role.DISPATCHER, township=world.north),
        liaison=make_user("liaison", role.LIAISON, department=world.urban),
        other_liaison=make_user("other_liaison", role.LIAISON, department=world.market),
        supervisor=make_user("supervisor", role.SUPERVISOR, township=world.north),
        district_supervisor=make_user("district", role.SUPERVISOR),
        admin=make_user("admin", role.ADMIN),
        south_caseworker=make_user("south_caseworker", role.CASEWORKER, township=world.south),
        south_dispatcher=make_user("south_dispatcher", role.DISPATCHER, township=world.south),
    )


@pytest.fixture
def report(cast, world):
    """Report a case as the north caseworker; keyword arguments override the defaults."""
    from cases.services.intake import case_report

    def _report(**overrides):
        values = {
            "reporter": cast.caseworker,
            "category": world.rubbish,
            "cell": world.n1,
            "description": "路边堆放垃圾三天无人清理",
        }
        values.update(overrides)
        return case_report(**values)

    return _report


@pytest.fixture
def disputed(report, cast, world):
    """A case waiting for arbitration: returned by the urban department, dispatched to
    market regulation, returned again."""
    from cases.services import workflow

    case = report(description="责任不清的垃圾")
    workflow.case_return(case=case, actor=cast.liaison, reason="不属于城管")
    workflow.case_dispatch(case=case, actor=cast.dispatcher, lead=world.market)
    workflow.case_return(case=case, actor=cast.other_liaison, reason="不属于市场监管")
    assert case.needs_arbitration
    return case


def correct_as_shown(case, *, actor, category, cell):
    """`case_correct` as a page showing `case` as it is sends it (its version)."""
    from cases.services.corrections import case_correct

    return case_correct(
        case=case, actor=actor, category=category, cell=cell, expected_version=case.version
    )


@contextmanager
def refresh_under_way(lock_key: int):
    """Another process's refresh holding a roll-up's lock (`lock_key`: the beat's first
    build after an upgrade takes most of a minute at a million cases) until the block ends.
    For tests with `transaction=True`: a refresh in the test's own transaction would hold
    the lock till its end."""
    held, done = threading.Event(), threading.Event()

    def beat():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key])
                held.set()
                done.wait(timeout=60)
        finally:
            connection.close()

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        assert held.wait(timeout=10)
        # Were the page to wait for the lock, it would fail after this rather than hang.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        yield
    finally:
        done.set()
        thread.join(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def page_at_once(client, url: str, **headers):
    """GET `url`, which must answer (200) without waiting for a lock."""
    started = time.monotonic()
    page = client.get(url, **headers)
    assert page.status_code == 200
    assert time.monotonic() - started < 3
    return page


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium shared by the tests of one module (tests/browser.py)."""
    from tests.browser import chromium

    with chromium() as browser:
        yield browser
