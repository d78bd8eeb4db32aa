"""A command run by hand (`escalate_overdue`, `import_users`) sending its messages itself,
through the same `deliver` as the worker (`deliver_now`), and the words it prints about
how that went."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cases.services.outbox.sending import deliver

logger = logging.getLogger(__name__)


# How often `deliver_now` reports its progress, in messages, and the command's words.
PROGRESS_EVERY = 500
PROGRESS_LINE = gettext_lazy("… %(count)d emails sent")


@dataclass
class ForegroundDelivery:
    """What `deliver_now` did."""

    # How many were "sent", "retry" (left pending for a later attempt), "failed",
    # "outdated", "skipped", and "not_tried" (left pending when the server went silent).
    outcomes: Counter[str]
    # Why it stopped (the mail server's error), "" when the server answered every message.
    unreachable: str = ""
    # The messages it left pending in the outbox when it stopped: the one the server did
    # not answer (unless that was its last attempt: then it failed) and those not tried.
    left: int = 0


def deliver_now(
    message_pks: Iterable[int], *, progress: Callable[[int], None] | None = None
) -> ForegroundDelivery:
    """Deliver these messages here and now, one after another, for a command run by hand
    that must not depend on a worker being up. Each goes through `deliver`, as in the
    worker: a message the worker is sending meanwhile is skipped here and sent once.

    The first message the mail server does not answer stops it, on its last attempt too:
    the others would each wait EMAIL_TIMEOUT for the same silence. They stay pending in the
    outbox, as queued after their commit, and the sweep re-queues them if no worker sends
    them (`requeue_stuck`). `progress` is called every PROGRESS_EVERY messages with how
    many it has sent: not those a worker took meanwhile, which it only looked at."""
    run = ForegroundDelivery(outcomes=Counter())
    pks = iter(message_pks)
    for done, pk in enumerate(pks, start=1):
        delivery = deliver(message_pk=pk, foreground=True)
        run.outcomes[delivery.outcome] += 1
        if delivery.unreachable:
            run.unreachable = delivery.unreachable
            run.outcomes["not_tried"] = sum(1 for _pk in pks)
            run.left = (delivery.outcome == "retry") + run.outcomes["not_tried"]
            logger.warning(
                "The mail server could not be reached (%s); %d outbox message(s) "
                "left in the outbox, for the worker.",
                delivery.unreachable,
                run.left,
            )
            break
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(run.outcomes["sent"])
    return run


def unreachable_server_words(run: ForegroundDelivery) -> str:
    """For a command's output: the mail server that did not answer `deliver_now` and, when
    that stopped the sending, how many emails it left in the outbox; "" when the server
    answered every message."""
    if not run.unreachable:
        return ""
    if not run.left:  # the last email, on its last attempt: nothing waits
        return _("The mail server could not be reached (%(error)s).") % {"error": run.unreachable}
    return ngettext(
        "The mail server could not be reached (%(error)s), so sending stopped: "
        "%(left)d email is left in the outbox, queued for the worker, which sends it "
        "once the server answers.",
        "The mail server could not be reached (%(error)s), so sending stopped: "
        "%(left)d emails are left in the outbox, queued for the worker, which sends "
        "them once the server answers.",
        run.left,
    ) % {"error": run.unreachable, "left": run.left}


def delivery_summary(outcomes: Counter[str]) -> str:
    """`deliver_now`'s outcomes in one line, for a command's output. Outdated emails are
    named only when there are some: only escalations can be, and only when late; so are
    those not tried, which a silent server leaves (the line after says how many wait)."""
    names = ("sent", "failed", "outdated", "retry", "skipped", "not_tried")
    counts = {name: outcomes[name] for name in names}
    if counts["outdated"]:
        template = _(
            "sent %(sent)d, failed %(failed)d, not sent as their cases moved on %(outdated)d, "
            "left for a worker to retry %(retry)d, taken by a worker %(skipped)d"
        )
    else:
        template = _(
            "sent %(sent)d, failed %(failed)d, left for a worker to retry %(retry)d, "
            "taken by a worker %(skipped)d"
        )
    summary = template % counts
    if counts["not_tried"]:
        summary += _(", not tried as the mail server stopped answering %(not_tried)d") % counts
    return summary
