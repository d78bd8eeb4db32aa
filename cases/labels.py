"""Human names of audit actions and transitions, translated lazily so that each page
speaks the language of its request (a plain gettext at import time would freeze them)."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.models import CaseEvent, DeadlineKind, EscalationLevel, State

# What each transition's button says.
TRANSITION_LABELS = {
    "route": _("route"),
    "dispatch": _("dispatch"),
    "accept": _("accept"),
    "return": _("return"),
    "resolve": _("resolve"),
    "verify": _("verify"),
    "reopen": _("reopen"),
    "suspend": _("suspend"),
    "resume": _("resume"),
    "cancel": _("cancel"),
}

# What the timeline says happened.
ACTION_LABELS = {
    "report": _("reported"),
    "route": _("routed"),
    "dispatch": _("dispatched"),
    "accept": _("accepted"),
    "return": _("returned"),
    "resolve": _("resolved"),
    "verify": _("verified"),
    "reopen": _("reopened"),
    "suspend": _("suspended"),
    "resume": _("resumed"),
    "cancel": _("cancelled"),
    "correct": _("corrected category or cell"),
    "note": _("note"),
    "escalate": _("escalated"),
    "remind": _("due-soon reminder"),
    "extension_request": _("extension requested"),
    "extension_approve": _("extension approved"),
    "extension_refuse": _("extension refused"),
    "extension_lapse": _("extension request lapsed"),
    "acknowledge": _("escalation acknowledged"),
    "report_for_duty": _("reported for duty"),
}

STATE_LABELS = dict(State.choices)


def transition_label(name: str) -> str:
    return TRANSITION_LABELS.get(name, name)


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


# Audit rows of the escalation ladder: which rung, of which deadline, to whom.
LADDER_ACTIONS = ("escalate", "remind", "acknowledge")


def event_detail(event: CaseEvent) -> str:
    """What an escalation row adds to its action, e.g. "level 2 · resolve deadline →
    boss@example.org": three rows that all said "escalated" told nothing apart."""
    data = event.data or {}
    if event.action not in LADDER_ACTIONS or data.get("level") is None:
        return ""
    parts = []
    if event.action != "remind":
        parts.append(str(EscalationLevel(data["level"]).label))
    if data.get("deadline") in DeadlineKind.values:
        parts.append(gettext("%(kind)s deadline") % {"kind": DeadlineKind(data["deadline"]).label})
    text = " · ".join(parts)
    if data.get("recipients"):
        text += " → " + ", ".join(data["recipients"])
    return text
