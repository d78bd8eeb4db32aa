"""Models of the cases app, one module per subject; import them from `cases.models`."""

from cases.models.api import ApiKey, ApiRequest
from cases.models.assist import AWAITING_REPORT, CaseAssist
from cases.models.audit import CaseEvent
from cases.models.case import (
    MAX_DESCRIPTION_LENGTH,
    Case,
    CaseChanged,
    CaseQuerySet,
    Source,
    Urgency,
)
from cases.models.escalation import Escalation, EscalationLevel, OutboxMessage, SweepRun
from cases.models.extension import ExtensionRequest
from cases.models.figures import DailyFigures, FiguresMark
from cases.models.flywheel import RuleSuggestionDismissal
from cases.models.idempotency import IdempotencyKey
from cases.models.numbering import CaseNumberCounter
from cases.models.privacy import PersonalDataAccess
from cases.models.search import CaseSearchText
from cases.models.states import (
    CLOCK_STATES,
    OPEN_STATES,
    TERMINAL_STATES,
    CaseFallbackReason,
    DeadlineKind,
    State,
)
from cases.models.supervision import SupervisionFigures, SupervisionMark
from cases.models.web import CaseNote, CasePhoto, HeldPhoto

__all__ = [
    "ApiKey",
    "ApiRequest",
    "AWAITING_REPORT",
    "CLOCK_STATES",
    "MAX_DESCRIPTION_LENGTH",
    "OPEN_STATES",
    "TERMINAL_STATES",
    "Case",
    "CaseAssist",
    "CaseChanged",
    "CaseEvent",
    "CaseFallbackReason",
    "CaseNote",
    "CaseNumberCounter",
    "CasePhoto",
    "CaseSearchText",
    "CaseQuerySet",
    "DailyFigures",
    "DeadlineKind",
    "Escalation",
    "ExtensionRequest",
    "HeldPhoto",
    "FiguresMark",
    "IdempotencyKey",
    "EscalationLevel",
    "OutboxMessage",
    "PersonalDataAccess",
    "RuleSuggestionDismissal",
    "Source",
    "State",
    "SupervisionFigures",
    "SupervisionMark",
    "SweepRun",
    "Urgency",
]
