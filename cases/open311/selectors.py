"""Reads of the Open311 API. Every list is one query plus a fixed number of prefetches (and
one for the categories of the service codes it is filtered by)."""

from datetime import datetime
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from cases.models import TERMINAL_STATES, ApiRequest, Case, CaseAssist, State
from cases.open311.serializers import CLOSED, OPEN
from cases.services.open311 import services_queryset
from departments.models import Category, Department


def services() -> QuerySet[Category]:
    return services_queryset()


def service(code: str) -> Category | None:
    """A category by code."""
    return Category.objects.select_related("parent").filter(code=code).first()


def service_requests(
    *,
    extensions: bool = False,
    service_codes: list[str] | None = None,
    statuses: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[Case]:
    """The cases the API publishes, newest first.

    The API is public (GeoReport v2 needs no key to read), so it is not scoped by
    `cases_visible_to`, and it publishes no reporter contact. A case being reported is
    not yet a request (it is routed in the same transaction).
    """
    cases = (
        Case.objects.exclude(state=State.REPORTED)
        .select_related("category", "lead_department", "cell", "open311_request")
        .order_by("-created_at", "-id")
    )
    if extensions:
        cases = cases.prefetch_related(
            Prefetch(
                "assists",
                queryset=CaseAssist.objects.select_related("department").order_by(
                    "department__code"
                ),
            ),
            Prefetch("candidate_departments", queryset=Department.objects.order_by("code")),
        )
    if service_codes:
        # By the categories' ids, not a join on their codes: PostgreSQL then knows from its
        # statistics how many cases each has. Joined, a code with no cases (a parent
        # category's, or one misspelt) read every case of the 90 days newest first to find
        # none (0.55 s at a million cases); one that names no category now asks for no case.
        categories = Category.objects.filter(code__in=service_codes).values_list("pk", flat=True)
        cases = cases.filter(category_id__in=list(categories))
    wanted = set(statuses or ())
    if wanted == {OPEN}:
        cases = cases.exclude(state__in=TERMINAL_STATES)
    elif wanted == {CLOSED}:
        cases = cases.filter(state__in=TERMINAL_STATES)
    if start is not None:
        cases = cases.filter(created_at__gte=start)
    if end is not None:
        cases = cases.filter(created_at__lte=end)
    return cases


def api_request_by_token(token: str) -> ApiRequest | None:
    try:
        token_uuid = UUID(token)
    except ValueError:
        return None
    return (
        ApiRequest.objects.filter(token=token_uuid, case__isnull=False)
        .select_related("case")
        .first()
    )
