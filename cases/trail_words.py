"""The audit trail in words: each row's detail (whom a dispatch named, which rung of the
ladder, what a correction changed), and why an action on a case that changed meanwhile did
nothing."""

from collections.abc import Iterable, Mapping

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.labels import action_label
from cases.models import CaseEvent, CaseFallbackReason, DeadlineKind, EscalationLevel
from departments.models import Category, Department, GridCell
from departments.wording import aside, join_names, join_sentences

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
