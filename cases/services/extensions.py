"""Extension requests (延期): a liaison asks for more working time on the running deadline
of their department's case; a supervisor approves or refuses it, signed in (the admin) or
from the signed link in the email the request sends.

Every step writes an audit row with from_state == to_state (it is not a transition). An
approval restarts the clock as a new deadline at the later due moment, so the escalation
ladder starts again from level 1 for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import emails
from cases import permissions as can
from cases.models import (
    CLOCK_STATES,
    Case,
    CaseChanged,
    CaseEvent,
    DeadlineKind,
    ExtensionRequest,
    State,
)
from cases.services import calendar_changes, deadlines
from cases.services.outbox.enqueue import address_key, build_message, enqueue_email, enqueue_many
from cases.services.transitions import (
    NotPermitted,
    StaleCase,
    WorkflowError,
    extension_requests_lapse,
)
from cases.signed_links import SignedLinkError, make_token, read_token
from departments.calendar import get_calendar
from departments.models import User
from governance.links import site_url

Status = ExtensionRequest.Status
DECISION_SALT = "cases.extension-decision"
DECISION_LINK_MAX_AGE = timedelta(days=14)
MAX_EXTRA_DAYS = Decimal("60")
# Extensions are asked of a department about its own deadlines, not of the pool.
EXTENDABLE = {DeadlineKind.ACCEPT, DeadlineKind.RESOLVE}


# Kept under this name for the views and tests that catch it.
DecisionLinkError = SignedLinkError


def can_request_extension(case: Case, user: User) -> bool:
    """The lead department's liaison, while its own accept or resolve clock runs."""
    return (
        case.state in (State.ASSIGNED, State.IN_PROGRESS)
        and case.deadline_kind in EXTENDABLE
        and case.due_at is not None
        and can.act_for_lead(case, user)
    )


def can_decide_extension(case: Case, user: User) -> bool:
    """Supervisors of the case's township, and the district's."""
    return can.is_supervisor_of(case, user)


def decision_token(*, request_pk: int, address: str) -> str:
    """A signed, timestamped token naming the request and the address it was sent to."""
    return make_token(salt=DECISION_SALT, pk=request_pk, address=address)


def read_decision_token(token: str, *, max_age: timedelta = DECISION_LINK_MAX_AGE):
    """(request pk, address); DecisionLinkError if the link was altered or is too old."""
    return read_token(token, salt=DECISION_SALT, max_age=max_age)


def decision_url(*, request_pk: int, address: str) -> str:
    token = decision_token(request_pk=request_pk, address=address)
    return site_url("extensions:decide", args=[token])


def decider_addresses(case: Case) -> list[str]:
    """Where a request goes: the lead department's supervisors, the township's leaders."""
    addresses = list(case.lead_department.supervisor_email_list) if case.lead_department else []
    addresses += User.objects.supervisors_to_mail(township_id=case.township_id).values_list(
        "email", flat=True
    )
    return list(dict.fromkeys(address.strip().lower() for address in addresses if address))


def _languages_of(addresses: list[str]) -> dict[str, str]:
    """The language of each (lower-cased) address that is a user's, in one query: a
    request is written in it, as the escalation emails are; others get LANGUAGE_CODE."""
    return dict(
        User.objects.annotate(address=Lower("email"))
        .filter(address__in=addresses)
        .exclude(language="")
        .values_list("address", "language")
    )


def _event(case: Case, action: str, *, actor=None, actor_label="", comment="", data, now):
    return CaseEvent.objects.create(
        case=case,
        action=action,
        from_state=case.state,
        to_state=case.state,
        actor=actor,
        actor_label=actor_label,
        comment=comment,
        data=data,
        at=now,
    )


@transaction.atomic
def extension_request(
    *,
    case: Case,
    actor: User,
    reason: str,
    extra_days: Decimal,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> ExtensionRequest:
    """Ask for `extra_days` more working days on the case's running deadline.

    Only the lead department's liaison, while the accept or resolve clock runs, one
    pending request per case. Writes the request, an audit row, and one email per decider
    (each with its own signed link) to the outbox, all in this transaction.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError(_("A reason is required."))
    extra_days = Decimal(extra_days)
    if not Decimal("0.1") <= extra_days <= MAX_EXTRA_DAYS:
        raise WorkflowError(
            _("Ask for between 0.1 and %(max)s working days.") % {"max": MAX_EXTRA_DAYS}
        )
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("lead_department")
        .get(pk=case.pk)
    )
    if expected_version is not None and expected_version != case.version:
        raise StaleCase(_("This case changed since you opened it. Reload it and try again."))
    if not can_request_extension(case, actor):
        raise NotPermitted(_("You may not ask for an extension of this case now."))
    try:
        with transaction.atomic():
            request = ExtensionRequest.objects.create(
                case=case,
                department=case.lead_department,
                requested_by=actor,
                reason=reason,
                extra_days=extra_days,
                deadline_kind=case.deadline_kind,
                deadline_seq=case.deadline_seq,
                old_due_at=case.due_at,
                created_at=now,
            )
    except IntegrityError as error:
        raise WorkflowError(
            _("This case already has an extension request waiting for a decision.")
        ) from error
    _event(
        case,
        "extension_request",
        actor=actor,
        comment=reason,
        data={
            "extension": request.pk,
            "department": request.department_id,
            "extra_days": str(extra_days),
        },
        now=now,
    )
    messages = []
    addresses = decider_addresses(case)
    languages = _languages_of(addresses)
    # The admin's case page, where a signed-in supervisor approves or refuses: the public
    # case page shows the request in the timeline only.
    case_url = site_url("admin:cases_case_change", args=[case.pk])
    for address in addresses:
        language = languages.get(address, settings.LANGUAGE_CODE)
        subject, text, html = emails.extension_request(
            case=case,
            request=request,
            case_url=case_url,
            decide_url=decision_url(request_pk=request.pk, address=address),
            link_days=DECISION_LINK_MAX_AGE.days,
            language=language,
        )
        messages.append(
            build_message(
                to=address,
                subject=subject,
                text=text,
                html=html,
                kind="extension",
                dedupe_key=f"extension:{request.pk}:{address_key(address)}",
                language=language,
                case=case,
                now=now,
            )
        )
    enqueue_many(messages)
    return request


def _tell_requester(case: Case, request: ExtensionRequest, now: datetime) -> None:
    """Queue the decision email to the liaison who asked, in their language."""
    requester = request.requested_by
    if not requester.email:
        return
    subject, text, html = emails.extension_decision(
        case=case,
        request=request,
        case_url=site_url("admin:cases_case_change", args=[case.pk]),
        language=requester.language or settings.LANGUAGE_CODE,
    )
    enqueue_email(
        to=requester.email,
        subject=subject,
        text=text,
        html=html,
        kind="extension-decision",
        dedupe_key=f"extension-decision:{request.pk}",
        language=requester.language,
        case=case,
        now=now,
    )


def _new_due(case: Case, request: ExtensionRequest, now: datetime):
    """Restart the clock at the old due moment plus the extra working time (from now, if
    already overdue), as a new deadline: escalations of the old one are history, the new
    one starts at level 1."""
    calendar_changes.catch_up(case)
    calendar = get_calendar()
    extra = int(request.extra_days * calendar.day_seconds)
    remaining = max(0, int(calendar.working_seconds_between(now, case.due_at))) + extra
    deadlines.start_clock(case, case.deadline_kind, now=now, calendar=calendar, remaining=remaining)
    return case.due_at


def extension_still_applies(request: ExtensionRequest, case: Case) -> bool:
    """Whether the deadline the request would extend is still running: not once the case
    was accepted, resolved, returned or suspended (a decision then lapses the request)."""
    return (
        case.state in CLOCK_STATES
        and case.deadline_seq == request.deadline_seq
        and case.due_at is not None
    )


@transaction.atomic
def extension_decide(
    *,
    request: ExtensionRequest,
    approve: bool,
    actor: User | None = None,
    address: str = "",
    note: str = "",
    now: datetime | None = None,
) -> ExtensionRequest:
    """Approve or refuse a pending request, once.

    The decider is a signed-in supervisor of the case (`actor`), or the address a signed
    link was sent to (`address`, verified by the caller from the token). A request whose
    deadline has ended meanwhile (the case was accepted, resolved or returned) lapses
    instead. An approval moves the due moment and restarts the escalation ladder.
    """
    now = now or timezone.now()
    # The case first, then the request: the order of a transition, which updates the case
    # and then lapses its pending request. The other order deadlocked a decision with a
    # resolve (or accept, return…) of the same case at the same moment.
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("category")
        .get(pk=request.case_id)
    )
    request = ExtensionRequest.objects.select_for_update().get(pk=request.pk)
    if actor is None and not address:
        raise NotPermitted(_("Only a supervisor may decide on an extension."))
    if actor is not None and not can_decide_extension(case, actor):
        raise NotPermitted(_("Only a supervisor of this case may decide on its extension."))
    if request.status != Status.PENDING:
        raise WorkflowError(
            _("This extension request was already decided: %(status)s.")
            % {"status": request.get_status_display()}
        )
    decider = {"decided_by": actor, "decided_by_label": "" if actor else address}
    if not extension_still_applies(request, case):
        # Left pending by a deadline that ended before transitions lapsed requests: the
        # same lapse as theirs (transitions.extension_requests_lapse), whoever looks first.
        extension_requests_lapse(case, now=now)
        request.refresh_from_db()
        return request
    if actor is None and address.strip().lower() not in decider_addresses(case):
        # The link outlives a supervisor's departure: the address must still be a decider's.
        raise NotPermitted(
            _("%(address)s no longer decides on this case's extensions.") % {"address": address}
        )
    new_due = None
    if approve:
        new_due = _new_due(case, request, now)
        try:
            case.save(
                update_fields=[
                    "deadline_seq",
                    "deadline_started_at",
                    "escalation_level",
                    "due_at",
                    "escalate_2_at",
                    "escalate_3_at",
                    "remind_at",
                    "calendar_revision",
                ]
            )
        except CaseChanged as error:
            raise StaleCase(_("The case changed meanwhile. Try again.")) from error
    request.status = Status.APPROVED if approve else Status.REFUSED
    request.decided_at = now
    request.decision_note = note.strip()
    request.new_due_at = new_due
    request.decided_by = actor
    request.decided_by_label = decider["decided_by_label"]
    request.save(
        update_fields=[
            "status",
            "decided_at",
            "decision_note",
            "new_due_at",
            "decided_by",
            "decided_by_label",
        ]
    )
    _tell_requester(case, request, now)
    _event(
        case,
        "extension_approve" if approve else "extension_refuse",
        actor=actor,
        actor_label=decider["decided_by_label"],
        comment=request.decision_note,
        data={
            "extension": request.pk,
            "department": request.department_id,
            "extra_days": str(request.extra_days),
            "old_due_at": request.old_due_at.isoformat(),
            "new_due_at": new_due.isoformat() if new_due else None,
        },
        now=now,
    )
    return request
