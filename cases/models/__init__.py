"""Models of the cases app, one module per subject; import them from `cases.models`."""

from cases.models.case import (
    CLOCK_STATES,
    OPEN_STATES,
    TERMINAL_STATES,
    Case,
    CaseAssist,
    CaseChanged,
    CaseEvent,
    CaseFallbackReason,
    CaseNumberCounter,
    CaseQuerySet,
    DeadlineKind,
    Source,
    State,
    Urgency,
)

__all__ = [
    "CLOCK_STATES",
    "OPEN_STATES",
    "TERMINAL_STATES",
    "Case",
    "CaseAssist",
    "CaseChanged",
    "CaseEvent",
    "CaseFallbackReason",
    "CaseNumberCounter",
    "CaseQuerySet",
    "DeadlineKind",
    "Source",
    "State",
    "Urgency",
]
