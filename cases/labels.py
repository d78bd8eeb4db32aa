"""Human names of audit actions and transitions, translated lazily so that each page
speaks the language of its request (a plain gettext at import time would freeze them)."""

from django.utils.translation import gettext_lazy as _

from cases.models import State

ACTION_LABELS = {
    "report": _("reported"),
    "route": _("routed"),
    "dispatch": _("dispatch"),
    "accept": _("accept"),
    "return": _("return"),
    "resolve": _("resolve"),
    "verify": _("verify"),
    "reopen": _("reopen"),
    "suspend": _("suspend"),
    "resume": _("resume"),
    "cancel": _("cancel"),
    "correct": _("corrected category or cell"),
    "note": _("note"),
    "escalate": _("escalated"),
    "acknowledge": _("acknowledged"),
    "report_for_duty": _("reported for duty"),
}

STATE_LABELS = dict(State.choices)


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)
