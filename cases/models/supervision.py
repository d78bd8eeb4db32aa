"""The supervision page's daily roll-up: per local day of the audit row (of the request,
for an extension's approval), township of the case and department, the counts
`cases.selectors.supervision.department_figures` adds up over a period (see
`cases/services/supervision.py` for how the rows are kept up to date).

Derived data only: every row is a sum over audit rows, and
`supervision_refresh(everything=True)` rebuilds them all.
"""

from datetime import timedelta

from django.db import models
from django.db.models import Q

from departments.models import Department, Township

# The counted columns of `SupervisionFigures`, which a refresh adds to.
SUPERVISION_FIELDS = (
    "given",
    "returns",
    "accepts",
    "resolves",
    "reopens",
    "accept_wait",
    "accept_waits",
    "extensions",
    "extensions_approved",
)


class SupervisionFigures(models.Model):
    day = models.DateField()  # the local day (settings.TIME_ZONE) of the audit rows
    township = models.ForeignKey(Township, on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+")
    # Rows of dispute returns: the local day their case was given to the department, which
    # a period must hold too for the return to count in the return rate; rows of reopens:
    # the local day of the resolve reopened, likewise for the reopen rate. None on the other
    # rows, and on returns of a case no audit row gave to the department.
    given_day = models.DateField(null=True)

    given = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0)
    accepts = models.PositiveIntegerField(default=0)
    resolves = models.PositiveIntegerField(default=0)
    reopens = models.PositiveIntegerField(default=0)
    # Time to accept, summed over the accepts whose assignment is known (`accept_waits`):
    # a period's average is the sum of the sums over the sum of the counts.
    accept_wait = models.DurationField(default=timedelta)
    accept_waits = models.PositiveIntegerField(default=0)
    # Extension requests made on the day, and those of them approved (on any day since).
    extensions = models.PositiveIntegerField(default=0)
    extensions_approved = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of every read: a range of days, then a township.
            models.UniqueConstraint(
                fields=["day", "township", "department", "given_day"],
                name="supervision_figures_key",
                nulls_distinct=False,
            ),
        ]

    def __str__(self):
        return f"{self.day} {self.township_id}/{self.department_id}/{self.given_day}"


class SupervisionMark(models.Model):
    """The one row saying how far `SupervisionFigures` has caught up with the audit trail.

    Audit rows with an id up to `events_after` are counted. `event_seq`/`event_seq_at`
    remember the audit id sequence as the last refresh saw it, so that the next one can
    advance `events_after` past ids that no open transaction can still commit (as
    `FiguresMark` does for escalations). `time_zone` is the zone the days were cut in;
    another zone means rebuilding every day.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    events_after = models.BigIntegerField(default=0)
    event_seq = models.BigIntegerField(default=0)
    event_seq_at = models.DateTimeField(null=True)
    time_zone = models.CharField(max_length=64)
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="supervision_mark_one_row")]

    def __str__(self):
        return f"supervision figures as of {self.refreshed_at}"
