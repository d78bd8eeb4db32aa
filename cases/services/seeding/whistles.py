"""Open cases of the demo where a dispatcher blew the whistle (吹哨): summoned departments,
some of which reported for duty (报到) and some not yet, so that a liaison's summonses, a
report for duty and the list's "yet to report for duty" filter can be tried at once.

Made through the product's services (report, dispatch with a whistle, report for duty,
accept) as people would, always the same cases: a fixed handful, not per synthetic case,
so `seed_demo --cases N` stays as fast."""

from dataclasses import dataclass

from django.db import transaction

from cases.services import liaison, workflow
from cases.services.intake import case_report
from departments.models import Category, Department, GridCell, User


@dataclass(frozen=True)
class WhistleCase:
    reporter: str  # usernames, as in departments/samples/users.csv
    category: str  # codes
    cell: str
    description: str
    dispatcher: str
    lead: str
    summoned: tuple[str, ...]
    reported_by: tuple[str, ...] = ()  # liaisons whose department reports for duty
    accepted_by: str = ""  # the lead's liaison, when the lead has accepted


WHISTLE_CASES = (
    # An overlap (环保 or 公安): police lead; ecology reported, urban management not yet.
    WhistleCase(
        reporter="cd_caseworker",
        category="ENV-NOISE",
        cell="CD-03",
        description="小区旁工地夜间施工，广场舞音响叠加，居民连续多日无法入睡",
        dispatcher="cd_dispatcher",
        lead="POLICE",
        summoned=("ECOLOGY", "URBAN"),
        reported_by=("liaison_ecology",),
    ),
    # An overlap (城管 or 市场监管): urban management leads and accepted, through its second
    # liaison; market regulation reported through its second liaison, the police not yet.
    WhistleCase(
        reporter="cx_caseworker",
        category="STREET-STALL",
        cell="CX-05",
        description="夜市摊位占用消防通道和人行道，部分摊主无照经营",
        dispatcher="cx_dispatcher",
        lead="URBAN",
        summoned=("MARKET", "POLICE"),
        reported_by=("liaison_market2",),
        accepted_by="liaison_urban2",
    ),
    # No rule: housing leads; neither summoned department has reported yet.
    WhistleCase(
        reporter="ty_caseworker",
        category="SOCIAL-DISPUTE",
        cell="TY-04",
        description="村民私自加盖三层引发邻里纠纷，相邻房屋出现裂缝",
        dispatcher="ty_dispatcher",
        lead="HOUSING",
        summoned=("URBAN", "CIVIL"),
    ),
)


@transaction.atomic
def seed_whistle_cases(*, limit: int) -> int:
    """Report and dispatch with a whistle the first `limit` of WHISTLE_CASES (at most all
    of them), each as its demo users would; returns how many were made. Needs the demo
    district (`seed_district`). All or nothing."""
    chosen = WHISTLE_CASES[: max(0, limit)]
    if not chosen:
        return 0
    users = User.objects.in_bulk(
        {
            name
            for spec in chosen
            for name in (spec.reporter, spec.dispatcher, *spec.reported_by, spec.accepted_by)
            if name
        },
        field_name="username",
    )
    departments = Department.objects.in_bulk(
        {code for spec in chosen for code in (spec.lead, *spec.summoned)}, field_name="code"
    )
    categories = Category.objects.in_bulk({spec.category for spec in chosen}, field_name="code")
    cells = GridCell.objects.in_bulk({spec.cell for spec in chosen}, field_name="code")
    for spec in chosen:
        case = case_report(
            reporter=users[spec.reporter],
            category=categories[spec.category],
            cell=cells[spec.cell],
            description=spec.description,
        )
        workflow.case_dispatch(
            case=case,
            actor=users[spec.dispatcher],
            lead=departments[spec.lead],
            assisting=[departments[code] for code in spec.summoned],
            whistle=True,
            comment="吹哨报到，联合处置",
        )
        for name in spec.reported_by:
            liaison.assist_report_for_duty(case=case, actor=users[name], comment="已到现场")
        if spec.accepted_by:
            workflow.case_accept(case=case, actor=users[spec.accepted_by])
    return len(chosen)
