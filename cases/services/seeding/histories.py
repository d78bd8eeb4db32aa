"""Synthetic case histories (`seed_cases`): for a point and a final state, the path of
transitions that leads there, routed by the real router on the day it was reported,
placed in time, and applied to the case's values the way the workflow services would,
with an audit row for each step and the deadline clock of the state it ends in.
"""

from __future__ import annotations

import copy
import functools
import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from cases.models import CaseFallbackReason, DeadlineKind, Source, State, Urgency
from cases.services.deadlines import dispatch_limit_seconds
from cases.services.seeding.draft import Draft, event_row
from cases.services.seeding.past_escalations import PastSweeps
from cases.services.seeding.texts import (
    DESCRIPTIONS,
    GENERIC_DESCRIPTIONS,
    PLACES,
    STREETS,
    UNCLASSIFIED_DESCRIPTIONS,
)
from cases.services.seeding.world import World
from departments.calendar import get_calendar
from departments.routing import get_index

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
# The clock that runs in each open state (as in cases.services.transitions.CLOCK_FOR_STATE).
CLOCK_KIND = {
    State.FALLBACK: DeadlineKind.DISPATCH,
    State.ASSIGNED: DeadlineKind.ACCEPT,
    State.IN_PROGRESS: DeadlineKind.RESOLVE,
}
DAY = 24 * HOUR


class Generator:
    """Drafts synthetic cases one by one, from one random stream (`seed` makes it
    repeatable)."""

    def __init__(self, world: World, *, now: datetime, rng: random.Random):
        self.world, self.now, self.rng = world, now, rng
        self.index = get_index()
        # A private copy whose day lookups are memoised: chinesecalendar checks every
        # date against its whole table, which dominated a 100,000-case run.
        self.calendar = copy.copy(get_calendar())
        self.calendar.is_working_day = functools.cache(self.calendar.is_working_day)
        self.tz = timezone.get_current_timezone()
        self.states = list(STATE_WEIGHTS)
        self.weights = list(STATE_WEIGHTS.values())
        self.past = PastSweeps(self.calendar)

    # -- helpers ---------------------------------------------------------------------------

    def pick(self, choices, default=None):
        return self.rng.choice(choices) if choices else default

    def limit_seconds(self, category_id: int | None, kind: str) -> int:
        category = self.world.category_by_id.get(category_id)
        if kind == DeadlineKind.DISPATCH:
            return dispatch_limit_seconds()
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

    def draft(self, lng: float, lat: float, cell_id: int | None, final: str | None = None) -> Draft:
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

    def start(self, created, township_id, category, cell_id, lng, lat) -> Draft:
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
        draft = Draft(created_at=created, values=values)
        draft.events.append(
            event_row("report", "", State.REPORTED, created, reporter, "" if reporter else "demo")
        )
        return draft

    def fire(self, draft: Draft, action: str, to_state: str, at, decision, extra) -> None:
        """Apply one transition to the draft the way the workflow services would."""
        rng, world, v = self.rng, self.world, draft.values
        from_state = v["state"]
        township_id = v["township_id"]
        actor, comment, data = None, "", {}
        if from_state in CLOCK_KIND:
            kind = CLOCK_KIND[from_state]
            self.past.escalate_if_late(
                draft, kind, until=at, limit=self.limit_seconds(v["category_id"], kind)
            )
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
            # In working time, as a whistle blown by hand (deadlines.whistle_report_due).
            due = self.calendar.add_working_seconds(at, dispatch_limit_seconds())
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
            event_row(
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

    def finish(self, draft: Draft, category_id) -> None:
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
