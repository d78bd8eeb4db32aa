"""Reference views for the benchmarks: the least a Django request can do.

`bare_insert` is the floor of intake (one row inserted into a table the bench creates);
`bare_page` is the floor of a signed-in page. Reachable only through bench/urls.py.
"""

from django.contrib.auth.decorators import login_required
from django.db import connection
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


@login_required
def bare_page(request):
    return HttpResponse(f"<!doctype html><title>bench</title><p>{request.user.username}</p>")
