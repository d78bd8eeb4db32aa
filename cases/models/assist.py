"""Assisting departments on a case: the router's assists and the departments a whistle
summons to report for duty (吹哨报到)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models.case import Case
from departments.models import Department

# A summons not yet answered: a whistle called the department, which has not reported for
# duty. The condition of the index that finds them (`case_assist_waiting`): the queries
# must say it as the index does.
AWAITING_REPORT = models.Q(summoned=True, reported_at=None)


class CaseAssist(models.Model):
    """An assisting department on a case; a whistle summons it to report for duty (报到)."""

    # Both indexed by the composite indexes below, which lead with them.
    case = models.ForeignKey(
        Case,
        on_delete=models.CASCADE,
        related_name="assists",
        db_index=False,
        verbose_name=_("case"),
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("department"),
    )
    summoned = models.BooleanField(_("summoned by whistle"), default=False)
    report_due_at = models.DateTimeField(_("report for duty by"), null=True, blank=True)
    # As the case's: the last calendar change `report_due_at` was placed or moved on.
    calendar_revision = models.BigIntegerField(default=0, db_default=0, editable=False)
    reported_at = models.DateTimeField(_("reported for duty at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "department"], name="case_assist_unique"),
        ]
        indexes = [
            # A liaison's visible cases (cases/selectors/access.py, cases_visible_to): the
            # ids of the cases a department assists, read from the index alone.
            models.Index(fields=["department", "case"], name="case_assist_department"),
            # The summonses still to be answered: few at any time, among every assist
            # (cases/selectors/lists.py, awaiting_report_for_duty).
            models.Index(
                fields=["case"],
                condition=AWAITING_REPORT,
                name="case_assist_waiting",
            ),
        ]
        verbose_name = _("assisting department")
        verbose_name_plural = _("assisting departments")

    def __str__(self):
        # The admin's inline titles each row with it: the department, not two ids.
        return str(self.department)

    @property
    def late_to_report(self) -> bool:
        """Summoned, not reported for duty, and its time to has come: at the deadline
        already, as a case is overdue at its own (`Case.is_overdue`) and the liaisons'
        list says (`cases.selectors.lists.with_summons_due`). A closed or cancelled case
        asks for no report any more: late only if that time came before it ended."""
        if not self.summoned or self.reported_at is not None or self.report_due_at is None:
            return False
        ended_at = self.case.closed_at if self.case.is_finished else None
        return self.report_due_at <= (ended_at or timezone.now())
