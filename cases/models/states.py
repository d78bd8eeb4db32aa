"""A case's states and the vocabulary of its state machine (SPEC §2): the groups of states
the sweep and the pages ask about, why a case waits in the pool, and which deadline clock
runs. The transitions themselves are declared on `Case` (cases/models/case.py).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from departments.routing import FallbackReason


class State(models.TextChoices):
    REPORTED = "reported", _("reported")
    FALLBACK = "fallback", _("fallback pool")
    ASSIGNED = "assigned", _("assigned")
    IN_PROGRESS = "in_progress", _("in progress")
    RESOLVED = "resolved", _("resolved")
    CLOSED = "closed", _("closed")
    SUSPENDED = "suspended", _("suspended")
    CANCELLED = "cancelled", _("cancelled")


# States whose deadline clock runs: the ones the escalation sweep looks at.
CLOCK_STATES = (State.FALLBACK, State.ASSIGNED, State.IN_PROGRESS)
TERMINAL_STATES = (State.CLOSED, State.CANCELLED)
OPEN_STATES = tuple(s for s in State.values if s not in TERMINAL_STATES)


class CaseFallbackReason(models.TextChoices):
    """The router's four reasons, plus a department's return (a disputed assignment)."""

    NO_RULE = FallbackReason.NO_RULE.value, FallbackReason.NO_RULE.label
    OVERLAP = FallbackReason.OVERLAP.value, FallbackReason.OVERLAP.label
    UNCLASSIFIED = FallbackReason.UNCLASSIFIED.value, FallbackReason.UNCLASSIFIED.label
    OUTSIDE_GRID = FallbackReason.OUTSIDE_GRID.value, FallbackReason.OUTSIDE_GRID.label
    RETURNED = "returned", _("returned by the department")


class DeadlineKind(models.TextChoices):
    DISPATCH = "dispatch", _("dispatch")
    ACCEPT = "accept", _("accept")
    RESOLVE = "resolve", _("resolve")
