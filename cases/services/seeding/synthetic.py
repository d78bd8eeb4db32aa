"""Synthetic cases for the demo and benchmarks (`seed_demo --cases N`, SPEC §5).

Cases are built in memory and written with bulk inserts, each with the audit trail a real
case in its state would have (report, route and every later transition); they never go
through `save()`. Points are located in the real grid and routed by the real router.

A step that came after the deadline of the clock it stopped gets the escalations the sweep
would have written on the way (levels 1–3 whose moments had passed, each with its audit
row, as of that moment), so that the dashboard's on-time, response and resolution rates
see the late cases. The clock still running in an open case is left to the sweep, which
escalates what is overdue on its first run. Due-soon reminders and emails are not
written: they are no history the figures read, and nobody is to be mailed about the past.
"""

from __future__ import annotations

import copy
import functools
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases.models import (
    Case,
    CaseAssist,
    CaseEvent,
    CaseFallbackReason,
    DeadlineKind,
    Escalation,
    EscalationLevel,
    Source,
    State,
    Urgency,
)
from cases.services.escalation import EscalationGroup
from cases.services.escalation_mail import group_recipients
from cases.services.figures import figures_refresh
from cases.services.intake import allocate_case_numbers, format_case_number
from cases.services.seeding import bulk
from cases.services.seeding.texts import (
    DESCRIPTIONS,
    GENERIC_DESCRIPTIONS,
    PLACES,
    STREETS,
    UNCLASSIFIED_DESCRIPTIONS,
)
from cases.services.supervision import supervision_refresh
from departments.calendar import get_calendar
from departments.models import Category, Department, GridCell, Responsibility, Township, User
from departments.routing import get_index


@dataclass
class _Draft:
    """One synthetic case being built: the case's values and its audit trail."""

    created_at: datetime
    values: dict
    events: list[dict] = field(default_factory=list)
    assists: list[dict] = field(default_factory=list)
    escalations: list[dict] = field(default_factory=list)
    candidates: tuple[int, ...] = ()


@dataclass
class _World:
    """What the generator picks from, loaded in a handful of queries."""

    cells: list[tuple[int, int, float, float, float, float]]  # id, township, bbox
    categories: list[Category]
    category_by_id: dict[int, Category]
    departments: list[int]
    usual_lead: dict[int, int]  # category id -> a department that usually leads it
    caseworkers: dict[int, list[int]]  # township id -> user ids
    dispatchers: dict[int, list[int]]
    supervisors: dict[int | None, list[int]]
    liaisons: dict[int, list[int]]  # department id -> user ids
    supervisor_emails: dict[int, str]  # department id -> its supervisor_emails
    cell_names: dict[int, str]
    township_names: dict[int, str]


def _load_world() -> _World:
    cells = list(
        GridCell.objects.values_list(
            "id", "township_id", "min_lng", "min_lat", "max_lng", "max_lat"
        )
    )
    categories = list(Category.objects.all())
    departments = list(Department.objects.values_list("id", flat=True))
    if not cells or not categories or not departments:
        raise ValueError("Load the grid, departments and categories first (seed_demo does).")
    by_id = {c.pk: c for c in categories}
    parents = {c.parent_id for c in categories}
    leads = defaultdict(list)
    for category_id, department_id in Responsibility.objects.filter(role="lead").values_list(
        "category_id", "department_id"
    ):
        leads[category_id].append(department_id)

    # Who a dispatcher would pick for a case no rule settles: the lead of the nearest
    # ancestor with a rule, else the commonest lead in the same branch, else overall.
    def root_of(category):
        while category.parent_id in by_id:
            category = by_id[category.parent_id]
        return category.pk

    branch_leads = defaultdict(Counter)
    for category_id, department_ids in leads.items():
        if category_id in by_id:
            branch_leads[root_of(by_id[category_id])].update(department_ids)
    overall = Counter(d for department_ids in leads.values() for d in department_ids)
    anyone = overall.most_common(1)[0][0] if overall else departments[0]
    usual = {}
    for category in categories:
        current = category
        while current is not None and current.pk not in leads:
            current = by_id.get(current.parent_id)
        if current is not None:
            usual[category.pk] = leads[current.pk][0]
        elif branch_leads[root_of(category)]:
            usual[category.pk] = branch_leads[root_of(category)].most_common(1)[0][0]
        else:
            usual[category.pk] = anyone
    people: dict[str, dict] = {role: defaultdict(list) for role in User.Role.values}
    for user_id, role, township_id, department_id in User.objects.filter(
        is_active=True
    ).values_list("id", "role", "township_id", "department_id"):
        if role == User.Role.LIAISON:
            people[role][department_id].append(user_id)
        elif role in people:
            people[role][township_id].append(user_id)
    return _World(
        cells=cells,
        # Reports name the most precise category, so pick leaves.
        categories=[c for c in categories if c.pk not in parents] or categories,
        category_by_id=by_id,
        departments=departments,
        usual_lead=usual,
        caseworkers=people[User.Role.CASEWORKER],
        dispatchers=people[User.Role.DISPATCHER],
        supervisors=people[User.Role.SUPERVISOR],
        liaisons=people[User.Role.LIAISON],
        supervisor_emails=dict(Department.objects.values_list("id", "supervisor_emails")),
        cell_names=dict(GridCell.objects.values_list("id", "name")),
        township_names=dict(Township.objects.values_list("id", "name")),
    )


# Final states and how often they occur: most cases are long closed, a third are open.
STATE_WEIGHTS = {
    State.CLOSED: 44,
    State.RESOLVED: 7,
    State.IN_PROGRESS: 15,
    State.ASSIGNED: 10,
    State.FALLBACK: 12,
    State.SUSPENDED: 3,
    State.CANCELLED: 9,
}
# Among cases whose clock runs, the share placed past their deadline: about a third of the
# 37 % whose clock runs (pool, assigned, in progress; resolved and suspended ones are open
# too, with no clock), so ~10 % of all cases are overdue (for the sweep and the benchmarks).
OVERDUE_SHARE = 0.3
URGENCIES = list(Urgency.values)
HOUR = 3600
# The clock that runs in each open state (as in cases.services.workflow.CLOCK_FOR_STATE).
CLOCK_KIND = {
    State.FALLBACK: DeadlineKind.DISPATCH,
    State.ASSIGNED: DeadlineKind.ACCEPT,
    State.IN_PROGRESS: DeadlineKind.RESOLVE,
}
DAY = 24 * HOUR
# The rungs of the ladder from the deadline on, at their share of the limit (as
# cases.services.deadlines places due_at, escalate_2_at and escalate_3_at).
LADDER = (
    (int(EscalationLevel.LEVEL_1), 1),
    (int(EscalationLevel.LEVEL_2), 1.5),
    (int(EscalationLevel.LEVEL_3), 2),
)
# Historical escalations are tagged with the sweep of their minute (the beat sweeps every
# minute): a stable id derived from it, never one a real sweep (uuid4) could take.
SWEEP_NAMESPACE = uuid.UUID("4f6b1c2e-9d3a-5e7f-8a1b-2c3d4e5f6a7b")


class _Generator:
    def __init__(self, world: _World, *, now: datetime, rng: random.Random):
        self.world, self.now, self.rng = world, now, rng
        self.index = get_index()
        # A private copy whose day lookups are memoised: chinesecalendar checks every
        # date against its whole table, which dominated a 100,000-case run.
        self.calendar = copy.copy(get_calendar())
        self.calendar.is_working_day = functools.cache(self.calendar.is_working_day)
        self.tz = timezone.get_current_timezone()
        self.states = list(STATE_WEIGHTS)
        self.weights = list(STATE_WEIGHTS.values())
        self.sweep_ids: dict[int, uuid.UUID] = {}

    # -- helpers ---------------------------------------------------------------------------

    def pick(self, choices, default=None):
        return self.rng.choice(choices) if choices else default

    def limit_seconds(self, category_id: int | None, kind: str) -> int:
        category = self.world.category_by_id.get(category_id)
        if kind == DeadlineKind.DISPATCH:
            return int(settings.FALLBACK_DISPATCH_HOURS * HOUR)
        if kind == DeadlineKind.ACCEPT:
            return int((category.accept_hours if category else Decimal(8)) * HOUR)
        days = category.resolve_days if category else Decimal(5)
        return int(days * self.calendar.day_seconds)

    def points(self, count: int):
        """Random points: most inside a cell's box, a few well outside the grid."""
        lngs, lats = [], []
        for _i in range(count):
            _id, _t, west, south, east, north = self.pick(self.world.cells)
            if self.rng.random() < 0.015:
                west, east = west - 0.2, west - 0.15  # out in the countryside
            lngs.append(round(self.rng.uniform(west, east), 6))
            lats.append(round(self.rng.uniform(south, north), 6))
        return lngs, lats

    # -- one case --------------------------------------------------------------------------

    def draft(
        self, lng: float, lat: float, cell_id: int | None, final: str | None = None
    ) -> _Draft:
        """A case at this point that ends in `final`, or in a state drawn by weight."""
        rng, world = self.rng, self.world
        township_id = (
            self.index.township_of_cell[cell_id]
            if cell_id is not None
            else self.index.nearest_township_id(lng, lat)
        )
        category = None if rng.random() < 0.04 else self.pick(world.categories)
        category_id = category.pk if category else None
        final = final or rng.choices(self.states, self.weights)[0]
        overdue = final in CLOCK_KIND and rng.random() < OVERDUE_SHARE
        # When the case entered its final state (open cases) or was reported (the others);
        # then the path to that state, routed on that day; then the path placed in time.
        entered = None
        if final in CLOCK_KIND:
            limit = self.limit_seconds(category_id, CLOCK_KIND[final])
            if overdue:
                # Long enough ago that the deadline has passed, even across a holiday week.
                working_days = limit / self.calendar.day_seconds
                ago = rng.uniform((working_days * 1.4 + 8) * DAY, 80 * DAY)
            else:
                # Less than the limit ago in wall time, so less in working time: not due yet.
                ago = rng.uniform(0.02, 0.8) * limit
            entered = self.now - timedelta(seconds=ago)
            around = entered
        else:
            around = self.now - timedelta(seconds=rng.uniform(0, 88 * DAY))
        decision = self.index.route(
            category_id=category_id, cell_id=cell_id, on=around.astimezone(self.tz).date()
        )
        steps = self.path(final, decision, category_id)
        durations = [self.duration(step[0]) for step in steps]
        total = sum(durations)
        if entered is not None:
            created = entered - timedelta(seconds=total)
        else:
            created = min(around, self.now - timedelta(seconds=total + 60))
        created = created.replace(microsecond=0)

        draft = self.start(created, township_id, category, cell_id, lng, lat)
        at = created
        for (action, to_state, extra), seconds in zip(steps, durations, strict=True):
            at = at + timedelta(seconds=seconds)
            self.fire(draft, action, to_state, at, decision, extra)
        self.finish(draft, category_id)
        return draft

    def path(self, final: str, decision, category_id) -> list[tuple[str, str, dict]]:
        """The transitions after `report` that lead to `final`, as (action, to, extra)."""
        rng = self.rng
        routed = State.FALLBACK if decision.is_fallback else State.ASSIGNED
        steps = [("route", routed, {})]
        state = routed
        if final == State.CANCELLED:
            return [*steps, ("cancel", State.CANCELLED, {})]
        if final == State.FALLBACK:
            if state == State.ASSIGNED:
                steps.append(("return", State.FALLBACK, {}))
            return steps
        if state == State.FALLBACK:
            steps.append(("dispatch", State.ASSIGNED, {}))
        elif rng.random() < 0.06:  # disputed once, then dispatched by the township
            steps += [("return", State.FALLBACK, {}), ("dispatch", State.ASSIGNED, {})]
        if final == State.ASSIGNED:
            return steps
        steps.append(("accept", State.IN_PROGRESS, {}))
        if final == State.IN_PROGRESS:
            return steps
        if final == State.SUSPENDED:
            return [*steps, ("suspend", State.SUSPENDED, {})]
        steps.append(("resolve", State.RESOLVED, {}))
        if final == State.CLOSED and rng.random() < 0.05:  # not fixed the first time
            steps += [("reopen", State.IN_PROGRESS, {}), ("resolve", State.RESOLVED, {})]
        if final == State.CLOSED:
            steps.append(("verify", State.CLOSED, {}))
        return steps

    # How long each transition takes after the previous one: (shortest, longest) seconds.
    DURATIONS = {
        "route": (0, 0),
        "dispatch": (600, 6 * HOUR),
        "accept": (600, 10 * HOUR),
        "return": (HOUR, DAY),
        "resolve": (2 * HOUR, 6 * DAY),
        "reopen": (HOUR, 2 * DAY),
        "verify": (HOUR, 2 * DAY),
        "suspend": (HOUR, 3 * DAY),
        "cancel": (600, DAY),
    }

    def duration(self, action: str) -> float:
        return self.rng.uniform(*self.DURATIONS[action])

    def start(self, created, township_id, category, cell_id, lng, lat) -> _Draft:
        rng, world = self.rng, self.world
        place = self.pick(PLACES)
        if category is None:
            text = self.pick(UNCLASSIFIED_DESCRIPTIONS)
        else:
            text = self.pick(DESCRIPTIONS.get(category.code, GENERIC_DESCRIPTIONS))
        where = world.cell_names.get(cell_id) or world.township_names.get(township_id, "")
        reporter = self.pick(world.caseworkers.get(township_id, []))
        citizen = rng.random() < 0.25
        values = {
            "state": State.REPORTED,
            "township_id": township_id,
            "category_id": category.pk if category else None,
            "cell_id": cell_id,
            "lat": lat,
            "lng": lng,
            "address": f"{self.pick(STREETS)}{rng.randint(1, 399)}号{place}",
            "description": text.format(
                place=f"{where}{place}", category=category.name if category else ""
            ),
            "urgency": rng.choices(URGENCIES, [85, 12, 3])[0],
            "reporter_name": self.pick(["王女士", "李先生", "张阿姨", "陈师傅"]) if citizen else "",
            # Masked, as the hotline shows them: never a real number.
            "reporter_phone": f"13{rng.randint(0, 9)}****{rng.randint(1000, 9999)}"
            if citizen
            else "",
            "source": Source.DEMO,
            "reported_by_id": reporter,
            "created_at": created,
            "lead_department_id": None,
            "fallback_reason": "",
            "return_count": 0,
            "deadline_seq": 0,
            "escalation_level": 0,
        }
        draft = _Draft(created_at=created, values=values)
        draft.events.append(
            self.event("report", "", State.REPORTED, created, reporter, "" if reporter else "demo")
        )
        return draft

    @staticmethod
    def event(action, from_state, to_state, at, actor_id, label="", comment="", data=None):
        return {
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "at": at,
            "actor_id": actor_id,
            "actor_label": "" if actor_id else (label or "system"),
            "comment": comment,
            "data": data or {},
        }

    def fire(self, draft: _Draft, action: str, to_state: str, at, decision, extra) -> None:
        """Apply one transition to the draft the way the workflow services would."""
        rng, world, v = self.rng, self.world, draft.values
        from_state = v["state"]
        township_id = v["township_id"]
        actor, comment, data = None, "", {}
        if from_state in CLOCK_KIND:
            self.escalate_if_late(draft, CLOCK_KIND[from_state], until=at)
        lead = v["lead_department_id"]
        if action == "route":
            v["lead_department_id"] = decision.lead_department_id
            v["fallback_reason"] = decision.fallback_reason
            v["lead_chosen_in_pool"] = False
            data = {
                "lead": decision.lead_department_id,
                "assisting": list(decision.assisting_department_ids),
                "fallback_reason": decision.fallback_reason,
                "candidates": list(decision.candidate_department_ids),
            }
            draft.assists += [
                {"department_id": d, "created_at": at} for d in decision.assisting_department_ids
            ]
            draft.candidates = decision.candidate_department_ids
        elif action == "dispatch":
            candidates = draft.candidates or (world.usual_lead.get(v["category_id"]),)
            new_lead = self.pick([c for c in candidates if c] or world.departments)
            summoned = [c for c in draft.candidates if c != new_lead]
            actor = self.pick(world.dispatchers.get(township_id, []))
            known = {a["department_id"] for a in draft.assists}
            due = at + timedelta(hours=float(settings.FALLBACK_DISPATCH_HOURS))
            draft.assists += [
                {
                    "department_id": d,
                    "summoned": True,
                    "report_due_at": due,
                    "reported_at": at + timedelta(seconds=rng.uniform(600, 2 * HOUR)),
                    "created_at": at,
                }
                for d in summoned
                if d not in known
            ]
            v["lead_department_id"], v["fallback_reason"] = new_lead, ""
            v["lead_chosen_in_pool"] = True  # a dispatcher's choice (Case.dispatch)
            draft.candidates = ()
            comment = "吹哨报到，联合处置" if summoned else ""
            data = {
                "lead": new_lead,
                "assisting": summoned,
                "whistle": bool(summoned),
                "arbitrated": False,
            }
        elif action == "return":
            actor = self.pick(world.liaisons.get(lead, []))
            comment = "不属于本部门职责范围，请街道重新派遣"
            # As case_return records it: when the case was given to the department.
            given = next(e["at"] for e in reversed(draft.events) if e["to_state"] == State.ASSIGNED)
            data = {"returned_by": lead, "given_at": given.isoformat()}
            v["lead_department_id"], v["fallback_reason"] = None, CaseFallbackReason.RETURNED
            v["lead_chosen_in_pool"] = False
            v["return_count"] += 1
        elif action in ("accept", "resolve"):
            actor = self.pick(world.liaisons.get(lead, []))
            comment = "已到现场处置完毕，现场已恢复正常" if action == "resolve" else ""
            data = {"department": lead}  # the department the liaison acts for
        elif action in ("verify", "reopen"):
            actor = self.pick(world.caseworkers.get(township_id, []))
            if action == "verify":
                score = rng.choices([None, 5, 4, 3, 2, 1], [20, 36, 24, 12, 5, 3])[0]
                v["satisfaction"] = score
                data = {"satisfaction": score}
            else:
                comment = "现场复核问题仍未解决"
                data = {"department": lead}  # the lead the reopen sends the case back to
        elif action == "suspend":
            actor = self.pick(
                world.supervisors.get(township_id, []) or world.supervisors.get(None, [])
            )
            comment = "涉及历史遗留问题，需区级协调后处理"
            v["suspended_from"] = from_state
        elif action == "cancel":
            actor = self.pick(world.dispatchers.get(township_id, []))
            comment = "重复上报，已合并处理"
        if to_state in CLOCK_KIND:
            v["deadline_seq"] += 1
            v["deadline_started_at"] = at
            v["escalation_level"] = 0
        v["state"] = to_state
        draft.events.append(
            self.event(
                action,
                from_state,
                to_state,
                at,
                actor,
                "system" if action == "route" else "demo",
                comment,
                data,
            )
        )

    def escalate_if_late(self, draft: _Draft, kind: str, *, until: datetime) -> None:
        """The escalations the sweep would have written on the clock that `until` stops:
        every rung from level 1 whose moment came before it, as of that moment."""
        v = draft.values
        started = v["deadline_started_at"]
        limit = self.limit_seconds(v["category_id"], kind)
        # Working time never runs faster than the wall clock: a rung further from the start
        # than the step is not reached, and most steps need no calendar at all.
        elapsed = (until - started).total_seconds()
        rungs, moment, offset = [], started, 0
        for level, share in LADDER:
            if elapsed <= limit * share:
                break
            # From the rung before: the same moment as from the start, fewer days to walk.
            moment = self.calendar.add_working_seconds(moment, int(limit * share) - offset)
            offset = int(limit * share)
            if moment >= until:
                break
            rungs.append((level, moment))
        if not rungs:
            return
        deadline = rungs[0][1]
        for level, moment in rungs:
            draft.escalations.append(
                {
                    "deadline_seq": v["deadline_seq"],
                    "deadline_kind": kind,
                    "level": level,
                    "due_at": moment,
                    "deadline_at": deadline,
                    "created_at": moment,
                    "sweep_id": self.sweep_of(moment),
                    "department_id": v["lead_department_id"],
                    "township_id": v["township_id"],
                }
            )
        # What the sweep leaves on the case: the highest rung of its current deadline.
        v["escalation_level"] = rungs[-1][0]

    def sweep_of(self, moment: datetime) -> uuid.UUID:
        """The id of the (once-a-minute) sweep that wrote an escalation due at `moment`."""
        minute = int(moment.timestamp()) // 60
        sweep_id = self.sweep_ids.get(minute)
        if sweep_id is None:
            sweep_id = self.sweep_ids[minute] = uuid.uuid5(SWEEP_NAMESPACE, str(minute))
        return sweep_id

    def finish(self, draft: _Draft, category_id) -> None:
        """The deadline clock and closing fields of the final state."""
        v, last = draft.values, draft.events[-1]["at"]
        state = v["state"]
        v["updated_at"] = last
        v["version"] = len(draft.events) - 1
        kind = CLOCK_KIND.get(state)
        if kind:
            limit = self.limit_seconds(category_id, kind)
            add = self.calendar.add_working_seconds
            v["deadline_kind"] = kind
            v["due_at"] = add(last, limit)
            v["escalate_2_at"] = add(last, int(limit * 1.5))
            v["escalate_3_at"] = add(last, limit * 2)
            v["remind_at"] = add(last, int(limit * 0.75))
        elif state == State.SUSPENDED:
            limit = self.limit_seconds(category_id, DeadlineKind.RESOLVE)
            v["deadline_kind"] = DeadlineKind.RESOLVE
            v["paused_limit_seconds"] = limit
            v["paused_remaining_seconds"] = int(self.rng.uniform(-0.3, 0.9) * limit)
        else:
            v.pop("deadline_started_at", None)
        if state in (State.CLOSED, State.CANCELLED):
            v["closed_at"] = last


def seed_cases(
    *,
    count: int,
    now: datetime | None = None,
    seed: int | None = None,
    batch_size: int = 5000,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Create `count` synthetic cases spread over the last ~90 days and every state.

    Points are located in the real grid and routed by the real router on the day they
    were reported; each case gets the audit rows of every transition to its state, its
    assisting and candidate departments, and a deadline clock when one runs (about 10 %
    of all cases are overdue). A step that came after its clock's deadline brings the
    escalations the sweep would have written by then, with their audit rows (no emails).
    Numbers are reserved in one block per year. All or nothing: one transaction, batches
    of `batch_size` cases (COPY on PostgreSQL). `progress` is called with
    ("generated" | "written", count) every batch. Returns the number created.
    """
    if count <= 0:
        return 0
    now = now or timezone.now()
    rng = random.Random(seed)
    world = _load_world()
    generator = _Generator(world, now=now, rng=rng)
    lngs, lats = generator.points(count)
    located = generator.index.locate_many(lngs, lats)
    drafts = []
    # The first cases take each state once, so that even a few cases show every state
    # (SPEC §5: "spread over states"); the rest follow the weights.
    every_state = list(STATE_WEIGHTS)
    for i, (lng, lat, cell_id) in enumerate(zip(lngs, lats, located, strict=True)):
        final = every_state[i] if i < len(every_state) else None
        drafts.append(generator.draft(lng, lat, cell_id, final))
        if progress is not None and len(drafts) % batch_size == 0:
            progress("generated", len(drafts))
    drafts.sort(key=lambda d: d.created_at)
    by_year = defaultdict(list)
    for draft in drafts:
        by_year[timezone.localtime(draft.created_at).year].append(draft)
    with transaction.atomic():
        for year, group in sorted(by_year.items()):
            serials = allocate_case_numbers(year=year, count=len(group))
            for draft, serial in zip(group, serials, strict=True):
                draft.values["number"] = format_case_number(year, serial)
        recipients = _escalation_recipients(drafts, world)
        write = _copy_batch if bulk.can_copy() else _orm_batch
        for start in range(0, len(drafts), batch_size):
            batch = drafts[start : start + batch_size]
            write(batch, recipients)
            if progress is not None:
                progress("written", start + len(batch))
        # The cases carry past `updated_at`s, which a refresh since the last one would miss.
        figures_refresh(everything=True)
        supervision_refresh(everything=True)
    return len(drafts)


def _escalation_recipients(drafts: list[_Draft], world: _World) -> dict:
    """Who the sweep would have told about each (level, owner, township) of the drafts'
    escalations, resolved for all of them at once (one query), for their audit rows."""
    keys = {
        (e["level"], e["department_id"], e["township_id"])
        for draft in drafts
        for e in draft.escalations
    }
    if not keys:
        return {}
    groups = [
        EscalationGroup(
            level,
            department_id,
            township_id,
            tuple(
                a.strip()
                for a in world.supervisor_emails.get(department_id, "").split(";")
                if a.strip()
            ),
            0,
        )
        for level, department_id, township_id in keys
    ]
    addresses, _languages = group_recipients(groups)
    return addresses


def _escalation_rows(batch: list[_Draft], case_ids: list[int]) -> list[dict]:
    return [
        {"case_id": case_id, **escalation}
        for draft, case_id in zip(batch, case_ids, strict=True)
        for escalation in draft.escalations
    ]


def _escalation_events(escalations: list[dict], ids: list[int], recipients: dict) -> list[dict]:
    """The audit row the sweep writes with each escalation (`escalation._write_audit`)."""
    return [
        {
            "case_id": e["case_id"],
            **_Generator.event(
                "escalate",
                "",
                "",
                e["created_at"],
                None,
                data={
                    "escalation": pk,
                    "level": e["level"],
                    "deadline": e["deadline_kind"],
                    "deadline_seq": e["deadline_seq"],
                    "recipients": recipients.get(
                        (e["level"], e["department_id"], e["township_id"]), []
                    ),
                },
            ),
        }
        for e, pk in zip(escalations, ids, strict=True)
    ]


def _children(batch: list[_Draft], case_ids: list[int]):
    events, assists, candidates = [], [], []
    for draft, case_id in zip(batch, case_ids, strict=True):
        events += [{"case_id": case_id, **event} for event in draft.events]
        assists += [{"case_id": case_id, **assist} for assist in draft.assists]
        candidates += [{"case_id": case_id, "department_id": d} for d in draft.candidates]
    return events, assists, candidates


def _copy_batch(batch: list[_Draft], recipients: dict) -> None:
    """PostgreSQL: ids from the sequences first, then COPY cases and their children."""
    case_ids = bulk.reserve_ids(Case, len(batch))
    bulk.copy_rows(
        Case, [{**d.values, "id": i} for d, i in zip(batch, case_ids, strict=True)], with_pk=True
    )
    events, assists, candidates = _children(batch, case_ids)
    escalations = _escalation_rows(batch, case_ids)
    if escalations:
        ids = bulk.reserve_ids(Escalation, len(escalations))
        bulk.copy_rows(
            Escalation,
            [{**e, "id": i} for e, i in zip(escalations, ids, strict=True)],
            with_pk=True,
        )
        events += _escalation_events(escalations, ids, recipients)
    bulk.copy_rows(CaseEvent, events, with_pk=False)
    bulk.copy_rows(CaseAssist, assists, with_pk=False)
    bulk.copy_rows(Case.candidate_departments.through, candidates, with_pk=False)


def _orm_batch(batch: list[_Draft], recipients: dict) -> None:
    """Any other database (the SQLite demo): bulk_create, which returns the new ids."""
    cases = Case.objects.bulk_create([Case(**d.values) for d in batch])
    case_ids = [case.pk for case in cases]
    events, assists, candidates = _children(batch, case_ids)
    escalations = _escalation_rows(batch, case_ids)
    created = Escalation.objects.bulk_create(
        [Escalation(**row) for row in escalations], batch_size=5000
    )
    events += _escalation_events(escalations, [e.pk for e in created], recipients)
    through = Case.candidate_departments.through
    CaseEvent.objects.bulk_create([CaseEvent(**row) for row in events], batch_size=5000)
    CaseAssist.objects.bulk_create([CaseAssist(**row) for row in assists], batch_size=5000)
    through.objects.bulk_create([through(**row) for row in candidates], batch_size=5000)
