"""The emails the product sends: named functions over subject/text/HTML template triples in
`templates/emails/<name>-subject.txt`, `<name>-body.txt` and `<name>-body.html`.

Rendered in the recipient's language, they write as the pages do in it: dates and times in
its formats (DATETIME_FORMAT in sentences and facts, SHORT_DATETIME_FORMAT in the list of
steps), names joined and labels punctuated through `departments.wording`.

They render (reading only what a case's email names: its assisting departments, its last
steps); writing the message to the outbox is `cases.services.outbox`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from cases.labels import ACTION_LABELS
from cases.models import Case, CaseEvent, DeadlineKind, Escalation, ExtensionRequest
from cases.privacy import mask_contacts, mask_name, mask_phone
from cases.time_words import deadline_just_passed, format_duration
from cases.trail_words import ladder_rung
from departments.wording import aside
from governance.links import site_url


def _cut(text: str, length: int) -> str:
    """`text`, or its first `length` characters ending in "…" to show the rest is on the
    case's page: an email does not carry a whole 4,000-character description."""
    return Truncator(text).chars(length)


def render(name: str, context: dict, *, language: str) -> tuple[str, str, str]:
    """(subject, text, html) of `templates/emails/<name>-*`, in `language`."""
    with translation.override(language):
        context = {**context, "language": language}
        subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
        context["subject"] = subject
        text = render_to_string(f"emails/{name}-body.txt", context).strip() + "\n"
        html = render_to_string(f"emails/{name}-body.html", context)
    return subject, text, html


@dataclass(frozen=True)
class Step:
    at: datetime
    label: str
    actor: str
    comment: str


def timeline_steps(events: list[CaseEvent]) -> list[Step]:
    """The audit rows as email lines, oldest first; comments are phone-masked; an earlier
    escalation says its rung."""
    return [
        Step(
            at=event.at,
            label=" · ".join(
                filter(
                    None, [str(ACTION_LABELS.get(event.action, event.action)), ladder_rung(event)]
                )
            ),
            actor=event.actor_display,
            comment=_cut(mask_contacts(event.shown_comment), 200),
        )
        for event in sorted(events, key=lambda e: (e.at, e.pk))
    ]


def _case_context(escalation: Escalation, *, language: str, timeline: list[CaseEvent]) -> dict:
    case = escalation.case
    category = case.category
    category_name = category.name_for(language) if category else ""
    if escalation.department_id:
        owner = escalation.department.name
    else:
        owner = _("fallback pool of %(township)s") % {"township": escalation.township.name}
    # Emails leave our hands: the reporter is always masked in them.
    reporter = mask_name(case.reporter_name)
    if case.reporter_phone:
        reporter = f"{reporter} {mask_phone(case.reporter_phone)}".strip()
    return {
        "case": case,
        "escalation": escalation,
        "category_name": category_name,
        "cell_name": f"{case.cell.name}{aside(case.cell.code)}" if case.cell_id else "",
        "owner": owner,
        # Who helps the owner (a whistle summons several departments): a supervisor
        # chasing the case needs them too. Joined in the reader's way (城管局、市场监管局).
        "assisting": list(
            case.assisting_departments.order_by("code").values_list("name", flat=True)
        ),
        "deadline_label": DeadlineKind(escalation.deadline_kind).label
        if escalation.deadline_kind in DeadlineKind.values
        else escalation.deadline_kind,
        "reporter": reporter,
        "description": _cut(mask_contacts(case.description), 1000),
        "timeline": timeline_steps(timeline),
        "case_url": site_url("cases:detail", args=[case.number]),
    }


def escalation(
    *,
    escalation: Escalation,
    language: str,
    overdue_seconds: float,
    timeline: list[CaseEvent],
    ack_url: str,
    ack_days: int,
    told_as: int,
) -> tuple[str, str, str]:
    """The email of a level 1–3 escalation to one supervisor, told as the people of rung
    `told_as` (the escalation's own level unless its rung had nobody to tell)."""
    with translation.override(language):
        context = _case_context(escalation, language=language, timeline=timeline)
        context.update(
            overdue=format_duration(overdue_seconds),
            # "overdue by 0 minutes" after a deadline at the end of the working day
            just_passed=deadline_just_passed(overdue_seconds),
            ack_url=ack_url,
            ack_days=ack_days,
            told_as=told_as,
        )
    return render("escalation", context, language=language)


def reminder(
    *, escalation: Escalation, language: str, left_seconds: float, timeline: list[CaseEvent]
) -> tuple[str, str, str]:
    """The due-soon reminder (75 % of the limit gone) to the owner: the lead department's
    liaisons, or the township's dispatchers for a case in the pool."""
    with translation.override(language):
        context = _case_context(escalation, language=language, timeline=timeline)
        context["time_left"] = format_duration(left_seconds)
    return render("reminder", context, language=language)


def extension_request(
    *,
    case: Case,
    request: ExtensionRequest,
    case_url: str,
    decide_url: str,
    link_days: int,
    language: str,
) -> tuple[str, str, str]:
    """A liaison's extension request to one supervisor; the reason is contact-masked, as
    every free text that leaves in an email is ("reporter 138… not at home")."""
    context = {
        "case": case,
        "request": request,
        "reason": mask_contacts(request.reason),
        "overdue": case.is_overdue,
        "case_url": case_url,
        "decide_url": decide_url,
        "link_days": link_days,
    }
    return render("extension-request", context, language=language)


def extension_decision(
    *, case: Case, request: ExtensionRequest, case_url: str, language: str
) -> tuple[str, str, str]:
    """The decision on an extension request, to the liaison who asked; the supervisor's
    note is contact-masked as the request's reason is."""
    context = {
        "case": case,
        "request": request,
        "note": mask_contacts(request.decision_note),
        "case_url": case_url,
    }
    return render("extension-decision", context, language=language)


@dataclass(frozen=True)
class Return:
    at: datetime
    department: str
    actor: str
    reason: str


def arbitration_request(
    *, case: Case, returns: list[CaseEvent], case_url: str, language: str
) -> tuple[str, str, str]:
    """To a supervisor who arbitrates: `case` was returned twice and waits for them to
    name its lead. Each of the `returns` (audit rows, with the `department` that returned
    it set) says who, when and why; the reasons are contact-masked, as every free text
    that leaves in an email is."""
    with translation.override(language):
        category = case.category
        context = {
            "case": case,
            "category_name": category.name_for(language) if category else "",
            "cell_name": f"{case.cell.name}{aside(case.cell.code)}" if case.cell_id else "",
            "returns": [
                Return(
                    at=event.at,
                    department=event.department.name if event.department else "",
                    actor=event.actor_display,
                    reason=_cut(mask_contacts(event.comment), 500),
                )
                for event in returns
            ],
            "case_url": case_url,
        }
    return render("arbitration-request", context, language=language)
