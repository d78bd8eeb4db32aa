"""A synthetic case being built in memory (`seed_cases`): the case's values and its rows,
and the shape of an audit row as the services write it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Draft:
    """One synthetic case being built: the case's values and its audit trail."""

    created_at: datetime
    values: dict
    events: list[dict] = field(default_factory=list)
    assists: list[dict] = field(default_factory=list)
    escalations: list[dict] = field(default_factory=list)
    candidates: tuple[int, ...] = ()


def event_row(action, from_state, to_state, at, actor_id, label="", comment="", data=None):
    """An audit row's values; without an actor, `label` (else "system") says who acted."""
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
