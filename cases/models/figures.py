"""The dashboard's daily roll-up: per local day of reporting, township, lead department and
grid cell, the counts the dashboard's rates are made of (see `cases/selectors/dashboard.py` for the
definitions and `cases/services/figures.py` for how the rows are kept up to date).

Derived data only: any row can be recomputed from the cases, their audit trail and their
escalations, and `figures_refresh(everything=True)` rebuilds them all.
"""

from django.db import models
from django.db.models import Q

from departments.models import Department, GridCell, Township

# The counted columns of `DailyFigures`, in the order the refresh computes them
# (cases/services/figures.py); the dashboard adds them up, `satisfaction` as sum ÷ count.
COUNTED_FIELDS = (
    "total",
    "open",
    "overdue",
    "closed",
    "on_time",
    "accept_due",
    "accepted_in_time",
    "resolve_due",
    "resolved_in_time",
    "fallback",
    "returned",
    "satisfaction_sum",
    "satisfaction_count",
)


class DailyFigures(models.Model):
    day = models.DateField()  # the local day (settings.TIME_ZONE) of the case's created_at
    township = models.ForeignKey(Township, on_delete=models.CASCADE, related_name="+")
    lead_department = models.ForeignKey(
        Department, null=True, on_delete=models.CASCADE, related_name="+"
    )
    cell = models.ForeignKey(GridCell, null=True, on_delete=models.CASCADE, related_name="+")

    total = models.PositiveIntegerField(default=0)
    open = models.PositiveIntegerField(default=0)
    # Of the cases whose clock runs, those at or past their deadline at
    # `FiguresMark.refreshed_at` (overdue as the sweep says: `due_at <= now`).
    overdue = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    # Accepted, or escalated on its accept deadline (not accepted in time, if at all).
    accept_due = models.PositiveIntegerField(default=0)
    accepted_in_time = models.PositiveIntegerField(default=0)
    # Resolved, or escalated on its resolve deadline.
    resolve_due = models.PositiveIntegerField(default=0)
    resolved_in_time = models.PositiveIntegerField(default=0)
    fallback = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    satisfaction_sum = models.PositiveIntegerField(default=0)
    satisfaction_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of every read: a range of days, then a township.
            models.UniqueConstraint(
                fields=["day", "township", "lead_department", "cell"],
                name="daily_figures_key",
                nulls_distinct=False,
            ),
        ]

    def __str__(self):
        return f"{self.day} {self.township_id}/{self.lead_department_id}/{self.cell_id}"


class FiguresMark(models.Model):
    """The one row saying how far `DailyFigures` has caught up with the cases.

    Days of cases whose `updated_at` is at or after `cases_changed_since`, and of cases with
    an escalation whose id is above `escalations_after`, are recomputed by the next refresh;
    `overdue` counts are as of `refreshed_at`.
    `escalation_seq`/`escalation_seq_at` remember the escalation id sequence as the last
    refresh saw it, so that the next one can advance `escalations_after` past ids that no
    open transaction can still commit (see `cases.services.figures`). `time_zone` is the
    zone the days were cut in; another zone means rebuilding every day.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    cases_changed_since = models.DateTimeField()
    escalations_after = models.BigIntegerField(default=0)
    escalation_seq = models.BigIntegerField(default=0)
    escalation_seq_at = models.DateTimeField(null=True)
    time_zone = models.CharField(max_length=64)
    refreshed_at = models.DateTimeField()
    # {case id: version} of the cases at or after `cases_changed_since` that the last
    # refresh already counted: the next one recomputes their days only if they changed again.
    seen_versions = models.JSONField(default=dict)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="figures_mark_one_row")]

    def __str__(self):
        return f"figures as of {self.refreshed_at}"
