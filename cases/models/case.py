"""Cases and their state machine (SPEC §2). The states and the other words the machine uses
are in cases/models/states.py, assisting departments in assist.py, the audit trail in
audit.py.

The transition table is the set of `@transition` declarations below. Transition bodies
only set fields on the case; the services in `cases/services/` fire them, save, and write
the audit row in one transaction.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransition, ConcurrentTransitionMixin, FSMField
from django_fsm import transition as fsm_transition

from cases import permissions as can
from cases.models.states import (
    CLOCK_STATES,
    TERMINAL_STATES,
    CaseFallbackReason,
    DeadlineKind,
    State,
)
from departments.models import Category, Department, GridCell, Township

# The longest description a report may have, from the web form or Open311 (GeoReport v2's
# limit): a case read back over Open311 keeps within it.
MAX_DESCRIPTION_LENGTH = 4000
# Returns after which the pool waits for a supervisor to name the lead (SPEC §2).
ARBITRATION_RETURNS = 2
# The cases waiting for that (`Case.needs_arbitration`), as the index of the arbitration
# queue (`case_awaiting_arbitration`) says them: the queries must say it as the index does.
AWAITING_ARBITRATION = Q(state=State.FALLBACK, return_count__gte=ARBITRATION_RETURNS)


class Urgency(models.TextChoices):
    NORMAL = "normal", _("normal")
    URGENT = "urgent", _("urgent")
    EMERGENCY = "emergency", _("emergency")


class Source(models.TextChoices):
    WEB = "web", _("web form")
    OPEN311 = "open311", _("Open311")
    DEMO = "demo", _("demo data")


class CaseChanged(Exception):
    """Raised when a case changed between reading it and acting on it."""


class CaseQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(state__in=TERMINAL_STATES)

    def overdue(self, now=None):
        # At the deadline itself a case is overdue: the sweep escalates it then (`<=`).
        return self.filter(state__in=CLOCK_STATES, due_at__lte=now or timezone.now())


class Case(ConcurrentTransitionMixin, models.Model):
    number = models.CharField(_("case number"), max_length=16, editable=False)
    state = FSMField(_("state"), default=State.REPORTED, choices=State.choices, protected=True)
    # Bumped by every save: the state alone cannot tell assigned→fallback→assigned apart.
    version = models.PositiveIntegerField(default=0, editable=False)

    township = models.ForeignKey(
        Township,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("township"),
        db_index=False,
    )
    category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("category"),
        db_index=False,
    )
    cell = models.ForeignKey(
        GridCell,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("grid cell"),
    )
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    description = models.TextField(_("description"))
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )
    reporter_name = models.CharField(_("reporter name"), max_length=100, blank=True)
    reporter_phone = models.CharField(_("reporter phone"), max_length=32, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reported_cases",
        verbose_name=_("reported by"),
    )
    created_at = models.DateTimeField(_("reported at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    lead_department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_cases",
        verbose_name=_("lead department"),
        db_index=False,
    )
    assisting_departments = models.ManyToManyField(
        Department,
        through="CaseAssist",
        related_name="assisted_cases",
        blank=True,
        verbose_name=_("assisting departments"),
    )
    fallback_reason = models.CharField(
        _("fallback reason"), max_length=16, choices=CaseFallbackReason.choices, blank=True
    )
    candidate_departments = models.ManyToManyField(
        Department, related_name="+", blank=True, verbose_name=_("candidate departments")
    )
    return_count = models.PositiveSmallIntegerField(_("times returned"), default=0)
    lead_is_final = models.BooleanField(
        _("lead decided by arbitration"),
        default=False,
        help_text=_("A supervisor named the lead after repeated returns; it cannot be returned."),
    )
    # Whether the event that last named the owner (OWNERSHIP_ACTIONS in
    # cases/selectors/trail.py) is a dispatch a dispatcher or an arbitrating supervisor
    # chose, not the router's (a route, or the dispatch a correction fires): the data
    # flywheel counts only those.
    # Kept by the transitions and `case_correct`, so its pages need not read the audit trail.
    lead_chosen_in_pool = models.BooleanField(default=False, editable=False)
    suspended_from = models.CharField(
        _("suspended from"), max_length=16, choices=State.choices, blank=True
    )
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="duplicates",
        verbose_name=_("duplicate of"),
        db_index=False,
    )
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction (1-5)"), null=True, blank=True)

    # The running deadline clock (SPEC §4). `deadline_seq` numbers each clock started on
    # this case, so that escalations are unique per (case, deadline, level).
    deadline_kind = models.CharField(
        _("deadline"), max_length=10, choices=DeadlineKind.choices, blank=True
    )
    deadline_seq = models.PositiveIntegerField(default=0)
    deadline_started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    escalate_2_at = models.DateTimeField(null=True, blank=True)
    escalate_3_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    # The last calendar change (departments.CalendarChange) the rungs above were placed or
    # moved on: a later change moves them, after its commit where they are many
    # (cases/services/calendar_changes.py).
    calendar_revision = models.BigIntegerField(default=0, db_default=0, editable=False)
    # While `suspend` stops the clock: working seconds left (negative when already overdue)
    # and the clock's full limit, so that `resume` restarts it where it stood.
    paused_remaining_seconds = models.IntegerField(null=True, blank=True)
    paused_limit_seconds = models.PositiveIntegerField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        # Every index costs each report's INSERT (and each page's plan): a foreign key
        # already led by a composite index below (township, category, lead department)
        # gets no index of its own, and no column gets a LIKE index nothing searches with.
        indexes = [
            models.Index(fields=["state"], name="case_state"),
            models.Index(
                fields=["duplicate_of"],
                name="case_duplicate_of",
                condition=Q(duplicate_of__isnull=False),
            ),
            # Used by the escalation sweep (cases/services/escalation.py, escalate_overdue):
            # only cases whose clock runs can be due.
            models.Index(
                fields=["due_at"], name="case_due_open", condition=Q(state__in=CLOCK_STATES)
            ),
            models.Index(
                fields=["escalate_2_at"],
                name="case_esc2_open",
                condition=Q(state__in=CLOCK_STATES),
            ),
            models.Index(
                fields=["escalate_3_at"],
                name="case_esc3_open",
                condition=Q(state__in=CLOCK_STATES),
            ),
            models.Index(
                fields=["remind_at"], name="case_remind_open", condition=Q(state__in=CLOCK_STATES)
            ),
            # The fallback pool page (cases/selectors/lists.py: fallback_pool_for): a township's
            # pool, and the district's, in its exact order (oldest first, then id), so that
            # a page and its count read only the pool's first rows. The lead column lets a
            # liaison's visibility test run on the index alone.
            models.Index(
                fields=["township", "created_at", "id"],
                name="case_pool",
                condition=Q(state=State.FALLBACK),
            ),
            models.Index(
                fields=["created_at", "id"],
                include=["lead_department"],
                name="case_pool_district",
                condition=Q(state=State.FALLBACK),
            ),
            # The supervisors' arbitration queue (cases/services/arbitration.py): the pool's
            # cases returned twice, few among the pool's (none of 120,000 at a million
            # cases, found by reading them all: 0.38 s). A report never writes it.
            models.Index(
                fields=["created_at", "id"],
                name="case_awaiting_arbitration",
                condition=AWAITING_ARBITRATION,
            ),
            models.Index(fields=["township", "state", "created_at"], name="case_township_state"),
            models.Index(fields=["lead_department", "state"], name="case_lead_state"),
            models.Index(fields=["category", "cell", "created_at"], name="case_cat_cell"),
            # The dashboard's roll-up refresh finds the cases saved since its last run
            # (cases/services/figures.py, figures_refresh).
            models.Index(fields=["updated_at"], name="case_updated"),
            # The dashboard's recurrences: a closed case of the category in the cell, closed
            # within 30 days before (cases/selectors/dashboard.py, recurrences).
            models.Index(
                fields=["category", "cell", "closed_at"],
                name="case_closed_cat_cell",
                condition=Q(state=State.CLOSED),
            ),
            # The data flywheel (cases/services/flywheel.py): the rule suggestions page's
            # scan of the closed cases a dispatcher chose the lead of, in its first window's
            # order, and a dispatch hint's count for a category in a township, both from the
            # index alone. Nothing reported is closed: intake's INSERT never writes it.
            models.Index(
                fields=["category", "township", "lead_department", "created_at", "id"],
                include=["cell", "number", "closed_at"],
                name="case_closed_chosen",
                condition=Q(state=State.CLOSED, lead_chosen_in_pool=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="case_number_unique"),
            # Exactly one owner (SPEC §2): a department while assigned or in progress, the
            # township's pool while in fallback.
            models.CheckConstraint(
                condition=~Q(state__in=[State.ASSIGNED, State.IN_PROGRESS])
                | Q(lead_department__isnull=False),
                name="case_assigned_has_lead",
            ),
            models.CheckConstraint(
                condition=~Q(state=State.FALLBACK) | Q(lead_department__isnull=True),
                name="case_fallback_has_no_lead",
            ),
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True)
                | Q(satisfaction__gte=1, satisfaction__lte=5),
                name="case_satisfaction_range",
            ),
            models.CheckConstraint(condition=~Q(description=""), name="case_has_description"),
        ]

    def __str__(self):
        return self.number

    # -- optimistic locking -------------------------------------------------------------

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            self._expected_version = self.version
            self.version += 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "version", "updated_at"}
            self.updated_at = timezone.now()
        try:
            super().save(*args, **kwargs)
        except ConcurrentTransition as error:
            self.version = self._expected_version
            raise CaseChanged(str(error)) from error

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update, *args):
        expected = getattr(self, "_expected_version", None)
        checked_qs = base_qs if expected is None else base_qs.filter(version=expected)
        updated = super()._do_update(
            checked_qs, using, pk_val, values, update_fields, forced_update, *args
        )
        # The row exists but not at the version we read: someone saved it in between.
        if not updated and expected is not None and base_qs.filter(pk=pk_val).exists():
            raise ConcurrentTransition("The case changed since it was read.")
        return updated

    # -- the state machine (SPEC §2) ----------------------------------------------------

    @fsm_transition(
        field=state, source=State.REPORTED, target=RETURN_VALUE(State.ASSIGNED, State.FALLBACK)
    )
    def route(self, *, lead_department_id, fallback_reason):
        self.lead_department_id = lead_department_id
        self.fallback_reason = fallback_reason
        self.lead_chosen_in_pool = False
        return State.FALLBACK if lead_department_id is None else State.ASSIGNED

    @fsm_transition(
        field=state, source=State.FALLBACK, target=State.ASSIGNED, permission=can.dispatch
    )
    def dispatch(self, *, lead, arbitrated=False, by_router=False):
        self.lead_department = lead
        self.fallback_reason = ""
        self.lead_is_final = arbitrated
        # A correction's dispatch (`by_router`): the list named the lead, not the township.
        self.lead_chosen_in_pool = not by_router

    @fsm_transition(
        field=state, source=State.ASSIGNED, target=State.IN_PROGRESS, permission=can.act_for_lead
    )
    def accept(self):
        pass

    @fsm_transition(
        field=state,
        source=[State.ASSIGNED, State.IN_PROGRESS],
        target=State.FALLBACK,
        permission=can.return_to_pool,
    )
    def return_to_pool(self):
        self.lead_department = None
        self.fallback_reason = CaseFallbackReason.RETURNED
        self.return_count += 1
        self.lead_chosen_in_pool = False

    @fsm_transition(
        field=state, source=State.IN_PROGRESS, target=State.RESOLVED, permission=can.act_for_lead
    )
    def resolve(self):
        pass

    @fsm_transition(field=state, source=State.RESOLVED, target=State.CLOSED, permission=can.verify)
    def verify(self, *, satisfaction=None):
        self.satisfaction = satisfaction

    @fsm_transition(
        field=state, source=State.RESOLVED, target=State.IN_PROGRESS, permission=can.verify
    )
    def reopen(self):
        pass

    @fsm_transition(
        field=state, source=list(CLOCK_STATES), target=State.SUSPENDED, permission=can.supervise
    )
    def suspend(self):
        self.suspended_from = self.state

    @fsm_transition(
        field=state,
        source=State.SUSPENDED,
        target=RETURN_VALUE(*CLOCK_STATES),
        permission=can.supervise,
    )
    def resume(self):
        resumed_to, self.suspended_from = self.suspended_from, ""
        return resumed_to

    @fsm_transition(
        field=state,
        source=[State.FALLBACK, State.ASSIGNED, State.IN_PROGRESS, State.SUSPENDED],
        target=State.CANCELLED,
        permission=can.cancel,
    )
    def cancel(self, *, duplicate_of=None):
        self.duplicate_of = duplicate_of

    # -- derived state ------------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        """Closed or cancelled: no one acts on it any more."""
        return self.state in TERMINAL_STATES

    @property
    def needs_arbitration(self) -> bool:
        """A case returned twice waits for a supervisor to name the lead (SPEC §2)."""
        return self.state == State.FALLBACK and self.return_count >= ARBITRATION_RETURNS

    @property
    def is_overdue(self) -> bool:
        return (
            self.state in CLOCK_STATES and self.due_at is not None and self.due_at <= timezone.now()
        )
