"""Reference views for the benchmarks: the least a Django request can do.

`bare_insert` is the floor of intake (one row inserted into a table the bench creates);
`signed_in_insert` is the least a signed-in report does through the ORM; `bare_page` is the
floor of a signed-in page. Reachable only through bench/urls.py.
"""

import uuid

from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

BARE_TABLE = "bench_bare_insert"


@csrf_exempt
@require_POST
def bare_insert(request):
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BARE_TABLE} (body, created_at) VALUES (%s, now())",  # noqa: S608
            [request.POST.get("description", "")],
        )
    return HttpResponse(status=201)


# Numbers of the signed-in insert's cases, told apart from the product's (year-serial) ones.
SIGNED_IN_PREFIX = "B"


@login_required
@require_POST
def signed_in_insert(request):
    """A case and its two audit rows through the ORM in one transaction, for a signed-in,
    CSRF-checked POST: no form, no routing, no deadlines, no case-number counter."""
    from cases.models import Case, CaseEvent, Source, State

    with transaction.atomic():
        case = Case.objects.create(
            number=f"{SIGNED_IN_PREFIX}{uuid.uuid4().hex[:15]}",
            township_id=request.POST["township"],
            category_id=request.POST["category"],
            cell_id=request.POST["cell"],
            description=request.POST["description"],
            source=Source.WEB,
            reported_by=request.user,
        )
        CaseEvent.objects.bulk_create(
            [
                CaseEvent(case=case, action="report", to_state=State.REPORTED, actor=request.user),
                CaseEvent(
                    case=case,
                    action="route",
                    from_state=State.REPORTED,
                    to_state=State.REPORTED,
                    actor_label="system",
                ),
            ]
        )
    return HttpResponse(status=201)


@login_required
def bare_page(request):
    return HttpResponse(f"<!doctype html><title>bench</title><p>{request.user.username}</p>")
