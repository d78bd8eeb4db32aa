"""Synthetic cases for the demo and benchmarks (`seed_demo --cases N`, SPEC §5).

Cases are built in memory and written with bulk inserts, each with the audit trail a real
case in its state would have (report, route and every later transition); they never go
through `save()`. Points are located in the real grid and routed by the real router.
What they are drawn from is in world.py, each case's history in histories.py, and the
escalations of its late steps in past_escalations.py; this module numbers the cases and
writes them.

Due-soon reminders and emails are not written: they are no history the figures read, and
nobody is to be mailed about the past.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cases.models import Case, CaseAssist, CaseEvent, Escalation
from cases.services.figures import figures_refresh
from cases.services.intake import allocate_case_numbers, format_case_number
from cases.services.seeding import bulk
from cases.services.seeding.draft import Draft
from cases.services.seeding.histories import STATE_WEIGHTS, Generator
from cases.services.seeding.past_escalations import (
    escalation_events,
    escalation_recipients,
    escalation_rows,
)
from cases.services.seeding.world import load_world
from cases.services.supervision import supervision_refresh


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
    world = load_world()
    generator = Generator(world, now=now, rng=rng)
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
        recipients = escalation_recipients(drafts, world)
        write = _copy_batch if bulk.can_copy() else _orm_batch
        for start in range(0, len(drafts), batch_size):
            batch = drafts[start : start + batch_size]
            write(batch, recipients)
            if progress is not None:
                progress("written", start + len(batch))
        bulk.analyze(Case, CaseEvent, CaseAssist, Escalation, Case.candidate_departments.through)
        # The cases carry past `updated_at`s, which a refresh since the last one would miss.
        figures_refresh(everything=True)
        supervision_refresh(everything=True)
    return len(drafts)


def _children(batch: list[Draft], case_ids: list[int]):
    events, assists, candidates = [], [], []
    for draft, case_id in zip(batch, case_ids, strict=True):
        events += [{"case_id": case_id, **event} for event in draft.events]
        assists += [{"case_id": case_id, **assist} for assist in draft.assists]
        candidates += [{"case_id": case_id, "department_id": d} for d in draft.candidates]
    return events, assists, candidates


def _copy_batch(batch: list[Draft], recipients: dict) -> None:
    """PostgreSQL: ids from the sequences first, then COPY cases and their children."""
    case_ids = bulk.reserve_ids(Case, len(batch))
    bulk.copy_rows(
        Case, [{**d.values, "id": i} for d, i in zip(batch, case_ids, strict=True)], with_pk=True
    )
    events, assists, candidates = _children(batch, case_ids)
    escalations = escalation_rows(batch, case_ids)
    if escalations:
        ids = bulk.reserve_ids(Escalation, len(escalations))
        bulk.copy_rows(
            Escalation,
            [{**e, "id": i} for e, i in zip(escalations, ids, strict=True)],
            with_pk=True,
        )
        events += escalation_events(escalations, ids, recipients)
    bulk.copy_rows(CaseEvent, events, with_pk=False)
    bulk.copy_rows(CaseAssist, assists, with_pk=False)
    bulk.copy_rows(Case.candidate_departments.through, candidates, with_pk=False)


def _orm_batch(batch: list[Draft], recipients: dict) -> None:
    """Any other database (the SQLite demo): bulk_create, which returns the new ids."""
    cases = Case.objects.bulk_create([Case(**d.values) for d in batch])
    case_ids = [case.pk for case in cases]
    events, assists, candidates = _children(batch, case_ids)
    escalations = escalation_rows(batch, case_ids)
    created = Escalation.objects.bulk_create(
        [Escalation(**row) for row in escalations], batch_size=5000
    )
    events += escalation_events(escalations, [e.pk for e in created], recipients)
    through = Case.candidate_departments.through
    CaseEvent.objects.bulk_create([CaseEvent(**row) for row in events], batch_size=5000)
    CaseAssist.objects.bulk_create([CaseAssist(**row) for row in assists], batch_size=5000)
    through.objects.bulk_create([through(**row) for row in candidates], batch_size=5000)
