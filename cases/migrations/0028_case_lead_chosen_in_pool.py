"""The data flywheel read every closed case's audit trail for the event that last named its
owner (3-4 s at a million cases); the case now stores that verdict. Existing cases get it
from their audit trail here, in one UPDATE."""

from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q

# As OWNERSHIP_ACTIONS (now in cases/selectors/trail.py) when this was written: the events
# that name the owner.
OWNERSHIP_ACTIONS = ("route", "dispatch", "correct", "return")


def from_the_audit_trail(apps, schema_editor):
    """True where the case's last ownership event (latest `at`, then id) is a dispatch not
    fired by a correction: a dispatch with no ownership event after it, found by an
    anti-join on the events, and the cases updated from it in one statement."""
    Case = apps.get_model("cases", "Case")
    CaseEvent = apps.get_model("cases", "CaseEvent")
    later = CaseEvent.objects.filter(case=OuterRef("case"), action__in=OWNERSHIP_ACTIONS).filter(
        Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), pk__gt=OuterRef("pk"))
    )
    deciding_dispatches = (
        CaseEvent.objects.filter(action="dispatch")
        .exclude(data__has_key="correction")
        .exclude(Exists(later))
    )
    Case.objects.filter(pk__in=deciding_dispatches.values("case_id")).update(
        lead_chosen_in_pool=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0027_api_key_rate_limit_at_least_one"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="lead_chosen_in_pool",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(from_the_audit_trail, migrations.RunPython.noop),
        # Built after the UPDATE, once, rather than written row by row by it.
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("lead_chosen_in_pool", True), ("state", "closed")),
                fields=["category", "township", "lead_department", "created_at", "id"],
                include=["cell", "number", "closed_at"],
                name="case_closed_chosen",
            ),
        ),
    ]
