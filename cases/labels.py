"""Human names of audit actions and transitions, translated lazily so that each page
speaks the language of its request (a plain gettext at import time would freeze them)."""

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from cases.models import CaseEvent, CaseFallbackReason, DeadlineKind, EscalationLevel, State
from cases.selectors.deadlines import working_seconds_until
from departments.calendar import working_day_seconds
from departments.models import Category, Department, GridCell
from departments.wording import aside, join_names, join_sentences

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

STATE_LABELS = dict(State.choices)

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


def passed_on_words(number: str) -> str:
    """Why an action on a case that moved out of this user's sight meanwhile did nothing."""
    return gettext(
        "Case %(number)s changed while you were acting on it and is no longer yours to see:"
        " another step passed it on (to the pool or to another department). Nothing was done."
    ) % {"number": number}


def changed_meanwhile_words(
    case, step: CaseEvent | None, *, action: str, still_possible: bool
) -> str:
    """Why `action` (a button's label) did nothing on `case`, as it is now, which changed
    since the page was opened: its latest `step` (`latest_step`), by whom and when, and
    what to do next. "Reload it and try again" told the loser of two dispatchers neither
    that the other had dispatched the case nor that there was nothing left to try."""
    if step is None:
        return gettext("Case %(number)s changed since you opened it, and nothing was done.") % {
            "number": case.number
        }
    detail = with_details([step])[0].detail
    said = gettext(
        "Case %(number)s changed since you opened it, and nothing was done. Latest step:"
        " %(step)s by %(who)s on %(when)s; its state is now “%(state)s”."
    ) % {
        "number": case.number,
        "step": action_label(step.action) + (aside(detail) if detail else ""),
        "who": step.actor_display,
        "when": date_format(timezone.localtime(step.at), "DATETIME_FORMAT"),
        "state": case.get_state_display(),
    }
    if still_possible:
        then = gettext("Check it, then try again: what you typed is kept.")
    else:
        then = gettext("“%(action)s” is no longer possible.") % {"action": action}
    return join_sentences([said, then])


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


def deadline_label(kind: str) -> str:
    return DEADLINE_LABELS.get(kind, kind)


def outbox_kind_label(kind: str) -> str:
    return OUTBOX_KIND_LABELS.get(kind, kind)


# Audit rows of the escalation ladder: which rung, of which deadline, to whom.
LADDER_ACTIONS = ("escalate", "remind", "acknowledge")


def event_detail(
    event: CaseEvent,
    departments: Mapping[int, str],
    places: Mapping[tuple[str, int], str] | None = None,
) -> str:
    """What an audit row adds to its action, in words: what a correction changed, the lead
    and assisting departments a routing or dispatch named, who returned the case, the
    rating, the rung of an escalation ("level 2 · resolve deadline → boss@example.org").
    `departments` names departments by id (`department_names`), `places` categories and
    cells by ("category" or "cell", id) (`corrected_names`)."""
    data = event.data or {}
    if event.action in LADDER_ACTIONS:
        return _ladder_detail(event.action, data)

    def names(ids) -> str:
        return join_names(departments.get(pk, f"#{pk}") for pk in ids or ())

    parts = []
    if event.action == "correct":
        parts += _correction_detail(data, places or {})
    if data.get("lead"):
        parts.append(gettext("lead: %(department)s") % {"department": names([data["lead"]])})
    if assisting := data.get("assisting"):
        parts.append(gettext("assisting: %(departments)s") % {"departments": names(assisting)})
    if data.get("whistle") and assisting:
        parts.append(gettext("summoned by a whistle"))
    if data.get("arbitrated"):
        parts.append(gettext("arbitration"))
    if event.action in ("route", "correct") and data.get("fallback_reason"):
        parts.append(str(CaseFallbackReason(data["fallback_reason"]).label))
    if candidates := data.get("candidates"):
        parts.append(gettext("candidates: %(departments)s") % {"departments": names(candidates)})
    if event.action == "return" and data.get("returned_by"):
        # A correction's return is nobody's dispute: the lead did not send it back.
        if data.get("correction"):
            taken = gettext("taken from %(department)s by a correction")
        else:
            taken = gettext("by %(department)s")
        parts.append(taken % {"department": names([data["returned_by"]])})
    if event.action == "report_for_duty" and data.get("department"):
        parts.append(names([data["department"]]))
        if data.get("late"):
            parts.append(gettext("late"))
    if data.get("satisfaction"):
        parts.append(gettext("rating: %(stars)s/5") % {"stars": data["satisfaction"]})
    if data.get("duplicate_of"):
        parts.append(gettext("duplicate of %(number)s") % {"number": data["duplicate_of"]})
    return " · ".join(parts)


# What a correction changed, field by field; a field left empty reads as the pool says it.
CORRECTED_FIELDS = {
    "category": (_("category: %(old)s → %(new)s"), _("not classified")),
    "cell": (_("cell: %(old)s → %(new)s"), _("outside the grid")),
}


def _correction_detail(data: dict, places: Mapping[tuple[str, int], str]) -> list[str]:
    """For each field a correction changed, "category: not classified → Exposed rubbish":
    its row said only "corrected category or cell", though the old value is what tells a
    wrong report from a wrong correction."""
    old, new = data.get("old") or {}, data.get("new") or {}
    parts = []
    for field, (words, empty) in CORRECTED_FIELDS.items():
        if old.get(field) == new.get(field):
            continue
        named = [
            places.get((field, pk), f"#{pk}") if pk else empty
            for pk in (old.get(field), new.get(field))
        ]
        parts.append(words % {"old": named[0], "new": named[1]})
    return parts


def corrected_names(events: Iterable[CaseEvent]) -> dict[tuple[str, int], str]:
    """The categories and cells the corrections among `events` name, by ("category" or
    "cell", id): a query for each kind named, none without corrections."""
    ids = {"category": set(), "cell": set()}
    for event in events:
        if event.action == "correct":
            data = event.data or {}
            for side in (data.get("old") or {}, data.get("new") or {}):
                for field in ids:
                    if side.get(field):
                        ids[field].add(side[field])
    names = {}
    if ids["category"]:
        for category in Category.objects.filter(pk__in=ids["category"]):
            names["category", category.pk] = category.display_name
    if ids["cell"]:
        for pk, name in GridCell.objects.filter(pk__in=ids["cell"]).values_list("pk", "name"):
            names["cell", pk] = name
    return names


def _ladder_detail(action: str, data: dict, *, recipients: bool = True) -> str:
    """Which rung, of which deadline, to whom (unless not `recipients`: an email to others
    names no one's address): three rows that all said "escalated" told nothing apart."""
    if data.get("level") is None:
        return ""
    parts = []
    if action != "remind":
        parts.append(str(EscalationLevel(data["level"]).label))
    if data.get("deadline") in DeadlineKind.values:
        parts.append(gettext("%(kind)s deadline") % {"kind": DeadlineKind(data["deadline"]).label})
    text = " · ".join(parts)
    if recipients and data.get("recipients"):
        text += " → " + join_names(data["recipients"])
    return text


def ladder_rung(event: CaseEvent) -> str:
    """The rung of an escalation-ladder audit row ("level 2 · resolve deadline"), without
    its recipients; "" for any other row."""
    if event.action not in LADDER_ACTIONS:
        return ""
    return _ladder_detail(event.action, event.data or {}, recipients=False)


def department_names() -> dict[int, str]:
    """Every department's name by id, in one query: a district has dozens, and a page of
    audit rows may name any of them."""
    return dict(Department.objects.values_list("pk", "name"))


def with_details(events: Iterable[CaseEvent]) -> list[CaseEvent]:
    """The audit rows, each with `detail` in words (`event_detail`): one query for the
    departments, and one each for the categories and cells that corrections name."""
    events = list(events)
    departments = department_names() if any(event.data for event in events) else {}
    places = corrected_names(events)
    for event in events:
        event.detail = event_detail(event, departments, places)
    return events


# The units of the pages' "waiting for 2 months" and "3 days left": Django's own words,
# which its Chinese catalogue gives as "2 月" (read as February) and "3 日"; ours as
# "2 个月" and "3 天".
TIME_WORDS = {
    "year": ngettext_lazy("%(num)d year", "%(num)d years", "num"),
    "month": ngettext_lazy("%(num)d month", "%(num)d months", "num"),
    "week": ngettext_lazy("%(num)d week", "%(num)d weeks", "num"),
    "day": ngettext_lazy("%(num)d day", "%(num)d days", "num"),
    "hour": ngettext_lazy("%(num)d hour", "%(num)d hours", "num"),
    "minute": ngettext_lazy("%(num)d minute", "%(num)d minutes", "num"),
}


def deadline_just_passed(overdue_seconds: float) -> bool:
    """Whether a deadline passed less than a minute of working time ago, which
    `format_duration` would tell as "0 minutes". It happens every evening: working time does
    not run at night, so a case due at 17:00 is still 0 minutes overdue at 20:00 (and the
    sweep escalates it then). Callers say "overdue, the deadline has just passed" instead."""
    return overdue_seconds < 60


def format_duration(seconds: float) -> str:
    """Working time for people: '3 days 2 h', '3 h 20 min', '45 minutes', where a day is
    one working day (its working periods added up, a midday break left out), so that a case
    weeks late does not read as "1238 hours". Past a day, minutes say nothing a reader
    needs; under a minute, "less than a minute". The caller says that it is working time
    ("… of working time", the column's title)."""
    if 0 < seconds < 60:
        # Not "0 minutes": a deadline half a minute of working time away (due at 09:00:30,
        # read all evening before) is still ahead.
        return gettext("less than a minute")
    minutes = max(0, int(seconds) // 60)
    days, minutes = divmod(minutes, working_day_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if days and hours:
        return ngettext("%(days)d day %(hours)d h", "%(days)d days %(hours)d h", days) % {
            "days": days,
            "hours": hours,
        }
    if days:
        return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}
    if hours and minutes:
        return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    if hours:
        return ngettext("%(hours)d hour", "%(hours)d hours", hours) % {"hours": hours}
    return ngettext("%(minutes)d minute", "%(minutes)d minutes", minutes) % {"minutes": minutes}


def working_time_words(
    seconds_left: float | None, *, overdue: bool = False, titled: bool = False
) -> str:
    """A running deadline in working time: "2 hours of working time left", "overdue by
    1 day 2 h of working time"; empty when no clock runs. `overdue` is the calendar's word
    (the case's `is_overdue`): in the evening after a 17:00 deadline no working time has
    passed, yet the case is overdue. `titled`: under a heading that already says it is
    working time (the admin's column), "2 hours left", "overdue by 1 day 2 h"."""
    if seconds_left is None:
        return ""
    if not overdue:
        words = gettext("%(left)s left") if titled else gettext("%(left)s of working time left")
        return words % {"left": format_duration(seconds_left)}
    late = abs(seconds_left)
    if deadline_just_passed(late):
        return just_overdue_words()
    words = (
        gettext("overdue by %(since)s")
        if titled
        else gettext("overdue by %(since)s of working time")
    )
    return words % {"since": format_duration(late)}


def stopped_clock_words(case, *, titled: bool = False) -> str:
    """A suspended case's stopped clock and the working time it keeps for its resume
    ("clock stopped: 1 hour of working time left"); empty for any other case."""
    kept = case.paused_remaining_seconds
    if case.state != State.SUSPENDED or kept is None:
        return ""
    return gettext("clock stopped: %(kept)s") % {
        "kept": working_time_words(kept, overdue=kept < 0, titled=titled)
    }


def just_overdue_words() -> str:
    """A case past its deadline by less than a minute of working time (`deadline_just_passed`):
    overdue, though "overdue by 0 minutes" would say nothing."""
    return gettext("overdue, the deadline has just passed")


def summons_time_left(case, *, calendar=None, now: datetime | None = None) -> str:
    """The working time left to report for duty on a case of `with_summons_due` ("Report
    for duty: 2 hours left", "Report for duty: overdue by 1 h"), for a column headed
    "working time left"; empty when the reader's department has no such summons on it."""
    due = getattr(case, "summons_due_at", None)
    if due is None:
        return ""
    now = now or timezone.now()
    seconds = working_seconds_until(due, now=now, calendar=calendar)
    left = working_time_words(seconds, overdue=due <= now, titled=True)
    return gettext("Report for duty: %(left)s") % {"left": left}
