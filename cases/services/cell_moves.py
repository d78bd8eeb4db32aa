"""Open cases follow their grid cell to another township.

A grid import or the admin may give a cell to another township (a boundary redrawn). A
case's cell must lie in its township: its township's staff see and work it, and its pool
is that township's. So the cell's open cases move with it, each with an audit row, and
the new township's staff work them from then on. Closed and cancelled cases stay in the
township that worked them: the record of who did what does not change.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cases.models import TERMINAL_STATES, Case, CaseEvent
from cases.services.figures import figures_recount
from cases.services.supervision import supervision_moving
from departments.models import GridCell, Township


@transaction.atomic
def open_cases_follow_cells(moves: dict[int, int], *, now: datetime | None = None) -> int:
    """Move the open cases of each cell in `moves` ({cell id: new township id}) to the
    cell's new township, in a few statements whatever their number; returns how many
    moved. Their `version` moves, so a page opened before acts on nothing stale."""
    now = now or timezone.now()
    leaving = (
        Case.objects.filter(cell_id__in=list(moves))
        .exclude(state__in=TERMINAL_STATES)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", "cell_id", "township_id", "state", "created_at")
    )
    rows = [(pk, cell, old, *rest) for pk, cell, old, *rest in leaving if old != moves[cell]]
    if not rows:
        return 0
    cells = dict(GridCell.objects.filter(pk__in=moves).values_list("pk", "code"))
    townships = Township.objects.in_bulk({old for _pk, _cell, old, *_ in rows} | {*moves.values()})
    # Supervision counts a case's audit rows in its township: they move with it.
    with supervision_moving([pk for pk, *_rest in rows]):
        for township_id in {moves[cell_id] for _pk, cell_id, *_rest in rows}:
            Case.objects.filter(
                pk__in=[pk for pk, cell_id, *_rest in rows if moves[cell_id] == township_id]
            ).update(township_id=township_id, version=F("version") + 1, updated_at=now)
    CaseEvent.objects.bulk_create(
        [
            CaseEvent(
                case_id=pk,
                action="move_township",
                from_state=state,
                to_state=state,
                actor_label="system",
                comment=f"{townships[old].name} → {townships[moves[cell_id]].name}",
                data={
                    "cell": cells[cell_id],
                    "old_township": townships[old].code,
                    "new_township": townships[moves[cell_id]].code,
                },
                at=now,
            )
            for pk, cell_id, old, state, _created in rows
        ],
        batch_size=1000,
    )
    zone = ZoneInfo(settings.TIME_ZONE)
    figures_recount({(created.astimezone(zone).date(), old) for _p, _c, old, _s, created in rows})
    return len(rows)
