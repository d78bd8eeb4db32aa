"""The peer's side of the sweep benchmark, run with the helpdesk virtual environment's
Python (bench/sweep.py builds it): `probe.py setup N DUE`, `probe.py reset`, `probe.py sweep`.

Each prints one JSON line. Tickets are written with bulk inserts; DUE of them are older
than their queue's escalate_days, so `escalate_tickets` escalates exactly DUE tickets.
"""

import json
import os
import resource
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from helpdesk.models import FollowUp, Queue, Ticket, TicketChange  # noqa: E402

BATCH = 5000


def setup(n: int, due: int) -> dict:
    call_command("migrate", verbosity=0)
    call_command("loaddata", "emailtemplate", verbosity=0)
    owner = get_user_model().objects.create_user("owner", "owner@example.org", "x")
    queue = Queue.objects.create(
        title="Township pool",
        slug="pool",
        email_address="pool@example.org",
        escalate_days=1,
        updated_ticket_cc="supervisor@example.org",
    )
    old = timezone.now() - timedelta(days=30)
    with transaction.atomic():
        for start in range(0, n, BATCH):
            Ticket.objects.bulk_create(
                Ticket(
                    title=f"{'Due' if i < due else 'Case'} {i}",
                    queue=queue,
                    submitter_email=f"reporter{i % 97}@example.org",
                    assigned_to=owner,
                    status=Ticket.OPEN_STATUS,
                    description="Exposed rubbish by the east gate for three days",
                    priority=3,
                )
                for i in range(start, min(n, start + BATCH))
            )
        # `created` is auto_now_add: age the due tickets afterwards.
        Ticket.objects.filter(title__startswith="Due ").update(created=old, modified=old)
    return {"tickets": Ticket.objects.count()}


def reset() -> dict:
    TicketChange.objects.all().delete()
    FollowUp.objects.all().delete()
    updated = Ticket.objects.exclude(last_escalation=None).update(last_escalation=None, priority=3)
    return {"reset": updated}


def sweep() -> dict:
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    connection.ensure_connection()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        call_command("escalate_tickets")
        seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "statements": statements,
        "escalated": Ticket.objects.exclude(last_escalation=None).count(),
        "peak_rss_mb": rss_after / 1024,
        "rss_growth_mb": (rss_after - rss_before) / 1024,
    }


if __name__ == "__main__":
    action = sys.argv[1]
    if action == "setup":
        result = setup(int(sys.argv[2]), int(sys.argv[3]))
    elif action == "reset":
        result = reset()
    else:
        result = sweep()
    print(json.dumps(result))
