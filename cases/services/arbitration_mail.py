"""The email that tells a case's arbiters it waits for them (SPEC §2: "a case returned
twice goes to a supervisor for arbitration"): written to the outbox by the return that
makes the case wait, in the same transaction, so it goes out after the commit, once, and
again later if the mail server is down (`cases.services.outbox`)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings

from cases import emails
from cases.models import Case, CaseEvent, OutboxMessage
from cases.models.case import ARBITRATION_RETURNS
from cases.services.outbox.enqueue import address_key, build_message, enqueue_many
from cases.services.outbox.outdated import ARBITRATION_KIND
from departments.models import Department, User
from governance.links import site_url

KIND = ARBITRATION_KIND

logger = logging.getLogger(__name__)


def arbiters(case: Case) -> list[User]:
    """Who arbitrates `case` and is told: the active supervisors of its township (its
    leaders), or, when the township has none with an address, the district's (supervisors
    of no township), who may arbitrate every case (`permissions.dispatch`)."""
    return list(
        User.objects.supervisors_to_mail(township_id=case.township_id).order_by("pk")
    ) or list(User.objects.supervisors_to_mail(township_id=None).order_by("pk"))


def department_returns(case: Case) -> list[CaseEvent]:
    """The returns that brought `case` to arbitration, oldest first: the last
    ARBITRATION_RETURNS by its departments (a correction's return to the pool is none),
    each with `department` set to the department that returned it."""
    returns = list(
        CaseEvent.objects.department_returns()
        .filter(case=case)
        .select_related("actor")
        .order_by("-at", "-id")[:ARBITRATION_RETURNS]
    )[::-1]
    names = Department.objects.in_bulk({(event.data or {}).get("returned_by") for event in returns})
    for event in returns:
        event.department = names.get((event.data or {}).get("returned_by"))
    return returns


def arbitration_notify(*, case: Case, now: datetime) -> list[OutboxMessage]:
    """Write one email per arbiter (`arbiters`) saying that `case`, just returned a second
    time, waits for their arbitration: the case, its two returns (who, when, why) and a
    link to its page, where they name the lead. In each arbiter's language. Called by the
    return, inside its transaction; once per case reaching arbitration (keyed on the
    return that made it wait), whatever calls it again."""
    returns = department_returns(case)
    if not returns:
        return []
    case_url = site_url("cases:detail", args=[case.number]) + "#dispatch"
    messages = []
    told = arbiters(case)
    if not told:
        # The pool page still says a supervisor will decide; nobody would hear of it.
        logger.warning(
            "Case %s waits for arbitration, but neither its township nor the district has "
            "an active supervisor with an email address to tell.",
            case.number,
        )
    for arbiter in told:
        language = arbiter.language or settings.LANGUAGE_CODE
        subject, text, html = emails.arbitration_request(
            case=case, returns=returns, case_url=case_url, language=language
        )
        messages.append(
            build_message(
                to=arbiter.email,
                subject=subject,
                text=text,
                html=html,
                kind=KIND,
                dedupe_key=f"{KIND}:{returns[-1].pk}:{address_key(arbiter.email)}",
                language=language,
                case=case,
                now=now,
            )
        )
    return enqueue_many(messages)
