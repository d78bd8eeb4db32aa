"""Escalations and the sweep's runs in the admin: read-only, for administrators only (who
see every case). Only the sweep writes them (cases/services/escalation.py).

Escalations grow with the cases, so their list pages like the outbox's
(cases/admin/outbox.py): by the primary key's index, counted up to a limit, with filters
that need no query. Sweep runs are a short history (the sweep deletes old ones) with an
index on their start, so they get a date hierarchy.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases import labels
from cases.admin.events import filter_in_words
from cases.admin.outbox import OutboxColumnsMixin
from cases.admin.readonly import CaseLinkColumnMixin, PlainForeignKeysMixin, ReadOnlyAdminMixin
from cases.admin.search import SearchByIdsMixin
from cases.admin.sorting import SortableByOnlyMixin
from cases.models import Escalation, OutboxMessage, SweepRun
from cases.pagination import CasePaginator


class AcknowledgedFilter(admin.SimpleListFilter):
    title = _("acknowledged")
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        return queryset


class EscalationMessageInline(OutboxColumnsMixin, ReadOnlyAdminMixin, admin.TabularInline):
    """The emails an escalation sent, each linked to its outbox page (and "Send again")."""

    model = OutboxMessage
    fields = ["to", "status", "attempts", "sent_at", "last_error_short"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("emails")


@admin.register(Escalation)
class EscalationAdmin(
    SortableByOnlyMixin,
    SearchByIdsMixin,
    CaseLinkColumnMixin,
    PlainForeignKeysMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    list_display = [
        "escalated_at",
        "case_link",
        "deadline_in_words",
        "level",
        "owner",
        "due_at",
        "acknowledged_at",
        "acknowledged_by_email",
    ]
    list_filter = [
        "level",
        filter_in_words("deadline_kind", _("deadline"), labels.DEADLINE_LABELS),
        AcknowledgedFilter,
        "created_at",
    ]
    list_select_related = ["case", "department", "township"]
    # Sorted by time only, which the primary key's index serves: a sort by another column
    # read and sorted every escalation (0.35-0.8 s at 790,000); the filters narrow by level,
    # deadline and acknowledgement instead.
    sortable_by = ["escalated_at"]
    search_fields = ["=case__number", "acknowledged_by_email"]

    def lookup_allowed(self, lookup, value, request=None):
        # A sweep run's page links here with ?sweep_id=… for the rows that run wrote.
        return lookup == "sweep_id" or super().lookup_allowed(lookup, value, request)

    # Newest first by the primary key's index ("-created_at" has none).
    ordering = ["-pk"]
    list_per_page = 50
    paginator = CasePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = [
        "case",
        "deadline_in_words",
        "deadline_seq",
        "level",
        "deadline_at",
        "due_at",
        "created_at",
        "owner",
        "department",
        "township",
        "acknowledged_at",
        "acknowledged_by_email",
        "sweep_id",
    ]
    readonly_fields = fields
    inlines = [EscalationMessageInline]

    # In the order of the rows' ids, as the sweep wrote them: "created_at" has no index.
    @admin.display(description=_("escalated at"), ordering="pk")
    def escalated_at(self, escalation):
        return escalation.created_at

    @admin.display(description=_("deadline"), ordering="deadline_kind")
    def deadline_in_words(self, escalation):
        return labels.deadline_label(escalation.deadline_kind)

    @admin.display(description=_("owner"), ordering="department__name")
    def owner(self, escalation):
        """Whose the case was when it escalated: a department, or the township's pool."""
        if escalation.department_id:
            return escalation.department.name
        return gettext("fallback pool of %(township)s") % {"township": escalation.township.name}


class SweepOutcomeFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [
            ("finished", _("finished")),
            ("failed", _("failed")),
            ("unfinished", _("not finished")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "finished":
            return queryset.filter(finished_at__isnull=False)
        if self.value() == "failed":
            return queryset.exclude(error="")
        if self.value() == "unfinished":
            # Still running, or stopped on an error or a killed worker.
            return queryset.filter(finished_at__isnull=True)
        return queryset


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "duration",
        "clock",
        "escalated",
        "reminded",
        "messages",
        "requeued",
        "error_short",
        "its_escalations",
    ]
    list_filter = [SweepOutcomeFilter]
    search_fields = ["error"]
    date_hierarchy = "started_at"
    fields = [
        "started_at",
        "finished_at",
        "duration",
        "clock",
        "escalated",
        "reminded",
        "messages",
        "requeued",
        "error",
        "its_escalations",
    ]
    readonly_fields = fields

    @admin.display(description=_("escalations"))
    def its_escalations(self, run):
        """A link to the escalations (and reminders) this run wrote."""
        if run.sweep_id is None or not (run.escalated or run.reminded):
            return "—"
        url = reverse(f"{self.admin_site.name}:cases_escalation_changelist")
        return format_html(
            '<a href="{}?sweep_id={}">{}</a>', url, run.sweep_id, run.escalated + run.reminded
        )

    @admin.display(description=_("duration"))
    def duration(self, run):
        if run.finished_at is None:
            return "—"
        seconds = (run.finished_at - run.started_at).total_seconds()
        return gettext("%(seconds).1f s") % {"seconds": seconds}

    @admin.display(description=_("error"))
    def error_short(self, run):
        return Truncator(run.error).chars(80) if run.error else "—"
