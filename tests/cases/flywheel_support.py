"""The data flywheel's verdict as it was computed before the case stored it: from the audit
trail, the oracle that `Case.lead_chosen_in_pool` must agree with."""

from django.db.models import BooleanField, ExpressionWrapper, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from cases.models import Case, CaseEvent
from cases.selectors.trail import OWNERSHIP_ACTIONS


def chosen_by_the_audit_trail() -> dict[int, bool]:
    """{case id: whether the last event that named its owner is a dispatch not fired by a
    correction}, for every case: the subquery `dispatched_closed_cases` used to run."""
    deciding = (
        CaseEvent.objects.filter(case=OuterRef("pk"), action__in=OWNERSHIP_ACTIONS)
        .order_by("-at", "-pk")
        .annotate(
            chosen=ExpressionWrapper(
                Q(action="dispatch") & ~Q(data__has_key="correction"),
                output_field=BooleanField(),
            )
        )
        .values("chosen")[:1]
    )
    return dict(
        Case.objects.annotate(chosen=Coalesce(Subquery(deciding), Value(False))).values_list(
            "pk", "chosen"
        )
    )


def stored_verdicts() -> dict[int, bool]:
    return dict(Case.objects.values_list("pk", "lead_chosen_in_pool"))


def disagreements() -> list[str]:
    """The numbers of the cases whose stored verdict is not the audit trail's."""
    oracle = chosen_by_the_audit_trail()
    numbers = dict(Case.objects.values_list("pk", "number"))
    return sorted(numbers[pk] for pk, chosen in stored_verdicts().items() if chosen != oracle[pk])
