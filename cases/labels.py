"""Human names of audit actions, states, deadlines and transitions, translated lazily so
that each page speaks the language of its request (a plain gettext at import time would
freeze them). Sentences built from them live beside: the audit trail's details in
cases/trail_words.py, working time in cases/time_words.py."""

from django.utils.translation import gettext_lazy as _

from cases.models import CaseFallbackReason, DeadlineKind, State

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

# What each transition does, said above its form on the case page (dispatch has its own).
TRANSITION_HELP = {
    "accept": _("Take the case on: the resolve deadline starts."),
    "return": _("Not your department's: send it back to the township's pool, saying why."),
    "resolve": _("Say what was done; the caseworker checks it on site next."),
    "verify": _("Fixed on site: close the case."),
    "reopen": _("Not fixed: send it back to the department, saying why."),
    "suspend": _("Park the case with a reason: its deadline stops until it is resumed."),
    "resume": _("Take the case out of suspension: its deadline runs again."),
    "cancel": _("A duplicate or an invalid report: cancel it, saying why."),
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
    "escalate": _("escalated"),
    "remind": _("due-soon reminder"),
    "extension_request": _("extension requested"),
    "extension_approve": _("extension approved"),
    "extension_refuse": _("extension refused"),
    "extension_lapse": _("extension request lapsed"),
    "acknowledge": _("escalation acknowledged"),
    "report_for_duty": _("reported for duty"),
    "anonymise": _("reporter's contact removed (retention period over)"),
    "move_township": _("moved to another township with its grid cell"),
}

# Looked up by code: a model's get_FOO_display() builds a dict of every choice, each
# translated, at every call (0.1 ms; a fourth of an Open311 list of 1,000 requests).
STATE_LABELS = dict(State.choices)

FALLBACK_REASON_LABELS = dict(CaseFallbackReason.choices)

DEADLINE_LABELS = dict(DeadlineKind.choices)

# What each kind of outbox email is about (`OutboxMessage.kind`, as the services write it).
OUTBOX_KIND_LABELS = {
    "escalation": _("escalation"),
    "reminder": _("due-soon reminder"),
    "extension": _("extension request"),
    "extension-decision": _("extension decision"),
    "arbitration": _("arbitration request"),
    "invitation": _("invitation"),
    "password-reset": _("password reset"),
}


# A supervisor's dispatch of a case returned twice is the arbitration (SPEC §2): its
# button and messages say so, as the admin's does; the transition keeps its name.
ARBITRATE_LABEL = _("arbitrate")


def transition_label(name: str, case=None) -> str:
    """What the button of transition `name` says; on `case`, when given, "arbitrate" for
    the dispatch of a case waiting for arbitration."""
    if name == "dispatch" and case is not None and case.needs_arbitration:
        return ARBITRATE_LABEL
    return TRANSITION_LABELS.get(name, name)


def transition_help(name: str) -> str:
    return TRANSITION_HELP.get(name, "")


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def fallback_reason_label(reason: str) -> str:
    return FALLBACK_REASON_LABELS.get(reason, reason)


def deadline_label(kind: str) -> str:
    return DEADLINE_LABELS.get(kind, kind)


def outbox_kind_label(kind: str) -> str:
    return OUTBOX_KIND_LABELS.get(kind, kind)
