"""The cases changelist and change page: the case admin's scope, columns, search and pages.
The changelist's filters are in `case_filters.py` and its actions in `case_actions.py`;
the buttons of the change page are declared in `buttons.py` and run by `button_views.py`.

Every queryset goes through `cases_visible_to`, and `get_object` turns "not visible" into
a 404, so the change, history and transition URLs of another department's case do not
exist for a liaison. The page is read-only for everybody: the state is a protected FSM
field and moves only through the workflow services, which the transition buttons call
with the version the page was rendered with.
"""

from functools import partial, wraps

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases import time_words, trail_words
from cases.admin import button_views
from cases.admin import flywheel as flywheel_admin
from cases.admin import supervision as supervision_admin
from cases.admin.case_actions import accept_selected, export_csv
from cases.admin.case_filters import OverdueFilter, WaitingForFilter
from cases.admin.events import (
    IN_WORDS,
    CommentAsReadMixin,
    EventInWordsMixin,
    UrlLookupsMixin,
    searchable_unmasked,
)
from cases.admin.readonly import PlainForeignKeysMixin, ReadOnlyAdminMixin
from cases.admin.search import every_word_in_a_field
from cases.admin.sorting import ColumnNames, NullsLast, SortableByChangeList
from cases.models import Case, CaseAssist, CaseEvent
from cases.pagination import CasePaginator
from cases.privacy import (
    PERSONAL_FIELDS,
    addresses_searchable_by_digits,
    can_see_personal_data,
    descriptions_searchable_by_digits,
    mask_contacts,
    masked_contact,
    masked_unless,
)
from cases.selectors.access import cases_visible_to
from cases.selectors.deadlines import working_seconds_left
from cases.selectors.lists import with_shown_due
from cases.selectors.search import admin_search_words, prefiltered_by_bigrams
from cases.services.privacy import Purpose, reporter_contact_for
from departments.calendar import get_calendar
from departments.models import User


class CaseEventInline(
    CommentAsReadMixin, EventInWordsMixin, ReadOnlyAdminMixin, admin.TabularInline
):
    model = CaseEvent
    fields = ["at", *IN_WORDS, "comment_as_read"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = _("timeline")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class CaseAssistInline(PlainForeignKeysMixin, ReadOnlyAdminMixin, admin.TabularInline):
    model = CaseAssist
    fields = ["department", "summoned", "report_due_at", "reported_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    # One line, not an empty table, for a case no other department assists.
    template = "admin/cases/case/assists_inline.html"

    def has_view_permission(self, request, obj=None):
        # Whoever may see a case sees who was summoned to it (liaisons hold no permission
        # on this model: without this the page left out the whistle and its deadlines).
        return request.user.has_perm("cases.view_case")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("department")


class CaseChangeList(SortableByChangeList):
    """The case list, whose page fetches its rows' categories, cells, townships and
    departments by a query each, after the sort: joined, they were joined to every case in
    view before a sort by time left kept fifty (a district's list: 0.65 s at a million cases,
    0.33 s without)."""

    def apply_select_related(self, queryset):
        return queryset.prefetch_related(*self.list_select_related)


@admin.register(Case)
class CaseAdmin(UrlLookupsMixin, PlainForeignKeysMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "state",
        "category_name",
        "cell_name",
        "lead_department",
        "urgency",
        "created_at",
        "time_left",
    ]
    list_display_links = ["number"]
    # Sortable by what an index or a running deadline orders. A sort by the category's,
    # the cell's or the department's name, or by urgency, read and sorted every case in
    # view (0.6-0.7 s at a million cases); the filters narrow by category, department and
    # urgency instead.
    sortable_by = ColumnNames(["number", "state", "created_at", "time_left"])
    list_filter = [
        "state",
        OverdueFilter,
        WaitingForFilter,
        "urgency",
        "township",
        "category",
        "lead_department",
    ]
    list_select_related = ["category", "cell", "township", "lead_department"]  # fetched apart
    # A number matches in part, as on /cases/: "000123" finds 2026-000123.
    search_fields = ["number", "description", "address"]
    # The description and the address are contact-masked as the reporter is
    # (cases/privacy.py).
    masked_lookups = (*PERSONAL_FIELDS, "description", "address")
    ordering = ["-created_at"]
    list_per_page = 50
    # One cheap count per page: no second count of the unfiltered total, and the page
    # count stops at a limit (cases/pagination.py).
    show_full_result_count = False
    paginator = CasePaginator
    # Facet counts are one COUNT per filter choice (dozens) over every visible case.
    show_facets = admin.ShowFacets.NEVER
    actions = [accept_selected, export_csv]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number",
                    "state",
                    "urgency",
                    "case_description",
                    "case_address",
                    "source",
                ]
            },
        ),
        (_("Place"), {"fields": ["township", "cell", "lat", "lng"]}),
        (
            _("Responsibility"),
            {
                "fields": [
                    "category",
                    "lead_department",
                    "fallback_reason",
                    "return_count",
                    "lead_is_final",
                ]
            },
        ),
        (_("Deadline"), {"fields": ["deadline_kind", "due_at", "time_left", "escalation_level"]}),
        (
            _("Reporter"),
            {
                "fields": [
                    "reported_by",
                    "reporter_contact",
                    "created_at",
                    "closed_at",
                ]
            },
        ),
    ]
    readonly_fields = [field for fieldset in fieldsets for field in fieldset[1]["fields"]]
    inlines = [CaseAssistInline, CaseEventInline]
    change_form_template = "admin/cases/case/change_form.html"
    object_history_template = "admin/cases/case/object_history.html"

    class Media:
        css = {"all": ["admin-extra/cases.css"]}

    # -- scope: the one access rule ---------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return CaseChangeList

    def get_queryset(self, request):
        # A summoned department's liaison: the deadline to report for duty, not the lead's,
        # and the time-left column sorted by it (`shown_due_at`).
        cases = cases_visible_to(request.user, super().get_queryset(request))
        return with_shown_due(cases, request.user)

    def get_object(self, request, object_id, from_field=None):
        case = super().get_object(request, object_id, from_field)
        if case is None:
            # Not "perhaps it was deleted": a case outside the user's scope does not exist.
            raise Http404(gettext("No such case."))
        return case

    # -- the buttons (nobody adds, edits or deletes a case: ReadOnlyAdminMixin) ---------

    def may_act(self, request) -> bool:
        """Whether the buttons are open to this user at all; the services still decide,
        per case, what this user may do."""
        return request.user.has_perm("cases.change_case")

    def has_accept_permission(self, request):
        # Only a lead department's liaison accepts (permissions.act_for_lead): supervisors
        # and superusers, who may act, would only be refused, so are not offered it.
        return self.may_act(request) and request.user.has_role(User.Role.LIAISON)

    # -- columns ----------------------------------------------------------------------

    # Names without their codes in the list, so that every column fits a 1280 px screen;
    # the codes are in the filters and on the case's page.
    @admin.display(description=_("category"), ordering="category__name")
    def category_name(self, case):
        return case.category.display_name if case.category_id else "—"

    @admin.display(description=_("grid cell"), ordering="cell__name")
    def cell_name(self, case):
        return case.cell.name if case.cell_id else "—"

    @admin.display(description=_("description"))
    def case_description(self, case):
        # Reporters write their numbers into it: masked unless this reader may call back.
        shown = getattr(case, "description_shown", None)
        return mask_contacts(case.description) if shown is None else shown

    @admin.display(description=_("address"))
    def case_address(self, case):
        shown = getattr(case, "address_shown", None)
        return mask_contacts(case.address) if shown is None else shown

    @admin.display(description=_("reporter"))
    def reporter_contact(self, case):
        shown = getattr(case, "reporter_contact_shown", None) or masked_contact(case)
        return str(shown) or "—"

    # Sorted by the deadline it tells the time to: a summons' where it shows one.
    @admin.display(description=_("working time left"), ordering=NullsLast("shown_due_at"))
    def time_left(self, case, calendar=None):
        """Working time to the running deadline, or how far past it, as the case page says;
        for a suspended case, what its stopped clock keeps. For a summoned department's
        liaison yet to report for duty, the time to do so."""
        if summons := time_words.summons_time_left(case, calendar=calendar):
            return summons
        seconds = working_seconds_left(case, calendar=calendar)
        return (
            time_words.working_time_words(seconds, overdue=case.is_overdue, titled=True)
            or time_words.stopped_clock_words(case, titled=True)
            or "—"
        )

    def get_list_display(self, request):
        # One calendar per page, not one lookup of its version stamp per row.
        calendar = get_calendar()

        @wraps(type(self).time_left)  # its heading and its ordering
        def time_left(case):
            return self.time_left(case, calendar)

        return [time_left if name == "time_left" else name for name in self.list_display]

    # -- the admin's own URLs: the buttons', rule suggestions, supervision ------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/act/<slug:name>/",
                self.admin_site.admin_view(partial(button_views.button_view, model_admin=self)),
                name="{}_{}_act".format(*info),
            ),
            path(
                "flywheel/",
                self.admin_site.admin_view(
                    partial(flywheel_admin.suggestions_view, model_admin=self)
                ),
                name="cases_rule_suggestions",
            ),
            path(
                "supervision/",
                self.admin_site.admin_view(
                    partial(supervision_admin.supervision_view, model_admin=self)
                ),
                name="cases_supervision",
            ),
            *super().get_urls(),
        ]

    # -- search -----------------------------------------------------------------------

    # The free texts a search that could probe a contact the reader sees masked matches
    # only where they read them as they are (cases/privacy.py), under these aliases.
    READABLE_TEXTS = {
        "description": ("readable_description", descriptions_searchable_by_digits),
        "address": ("readable_address", addresses_searchable_by_digits),
    }

    def get_search_fields(self, request):
        fields = searchable_unmasked(request, self.search_fields, *self.READABLE_TEXTS)
        if "description" in fields:
            return fields
        return [*fields, *(alias for alias, _rows in self.READABLE_TEXTS.values())]

    def get_search_results(self, request, queryset, search_term):
        fields = self.get_search_fields(request)
        if "description" not in fields:
            queryset = queryset.alias(
                **{
                    alias: models.Case(
                        models.When(readable(request.user), then=field),
                        default=models.Value(""),
                        output_field=models.TextField(),
                    )
                    for field, (alias, readable) in self.READABLE_TEXTS.items()
                }
            )
        # Each word of the box is in one of the searched texts, as Django's own search has
        # it, but matched as the site's list matches (`containment`: Django's icontains
        # upper-cased every text, for Chinese too). The bigram index narrows the rows first
        # (a liaison's scan of a department's cases for 垃圾 or a number took up to a second
        # at a million cases).
        queryset = queryset.filter(every_word_in_a_field(queryset, fields, search_term))
        # The searched texts are the case's own: no join, no duplicate rows.
        return prefiltered_by_bigrams(queryset, admin_search_words(search_term)), False

    # -- the change page --------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            # Masked for liaisons and supervisors; an unmasked view is logged.
            obj.reporter_contact_shown = reporter_contact_for(
                user=request.user, case=obj, purpose=Purpose.ADMIN, path=request.path
            )
            # The description and address, and the extension requests' reasons and notes,
            # masked alike.
            context["sees_contacts"] = sees_contacts = can_see_personal_data(request.user, obj)
            obj.description_shown = masked_unless(obj.description, sees_contacts)
            obj.address_shown = masked_unless(obj.address, sees_contacts)
            context["transition_forms"] = button_views.button_forms(self, request, obj)
            context["extension_requests"] = obj.extension_requests.select_related(
                "requested_by", "decided_by"
            )
            # The audit rows the timeline inline shows, each with its details in words.
            trail_words.with_details(
                form.instance
                for inline in context.get("inline_admin_formsets", ())
                if inline.opts.model is CaseEvent
                for form in inline.formset.forms
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- history: the case's audit trail ----------------------------------------------

    def history_view(self, request, object_id, extra_context=None):
        case = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        events = case.events.select_related("actor").order_by("at", "id")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Audit trail: %s") % case,
            "subtitle": None,
            "object": case,
            "events": trail_words.with_details(events),
            "sees_contacts": can_see_personal_data(request.user, case),
            "opts": self.opts,
            "module_name": str(self.opts.verbose_name_plural),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)
