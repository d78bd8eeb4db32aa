"""The escalations of synthetic cases' past (`seed_cases`): a step that came after the
deadline of the clock it stopped gets the escalations the sweep would have written on the
way (levels 1–3 whose moments had passed, as of each moment), and, when written, the audit
row the sweep writes with each, naming who it told. The clock still running in an open
case is left to the sweep itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from cases.models import EscalationLevel
from cases.services.escalation import EscalationGroup
from cases.services.escalation_mail import group_recipients
from cases.services.seeding.draft import Draft, event_row
from cases.services.seeding.world import World

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


class PastSweeps:
    """The once-a-minute sweeps of the past, as far as synthetic cases met them."""

    def __init__(self, calendar):
        self.calendar = calendar
        self.sweep_ids: dict[int, uuid.UUID] = {}

    def escalate_if_late(self, draft: Draft, kind: str, *, until: datetime, limit: int) -> None:
        """The escalations the sweep would have written on the clock that `until` stops:
        every rung from level 1 whose moment came before it, as of that moment. `limit` is
        the clock's limit in working seconds."""
        v = draft.values
        started = v["deadline_started_at"]
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


def escalation_recipients(drafts: list[Draft], world: World) -> dict:
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


def escalation_rows(batch: list[Draft], case_ids: list[int]) -> list[dict]:
    """The batch's escalation rows, each pointing at its case."""
    return [
        {"case_id": case_id, **escalation}
        for draft, case_id in zip(batch, case_ids, strict=True)
        for escalation in draft.escalations
    ]


def escalation_events(escalations: list[dict], ids: list[int], recipients: dict) -> list[dict]:
    """The audit row the sweep writes with each escalation (`escalation_notices.write_audit`)."""
    return [
        {
            "case_id": e["case_id"],
            **event_row(
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
