"""The cases changelist and change page.

Every queryset goes through `cases_visible_to`, and `get_object` turns "not visible" into
a 404, so the change, history and transition URLs of another department's case do not
exist for a liaison. The page is read-only for everybody: the state is a protected FSM
field and moves only through the workflow services, which the transition buttons call
with the version the page was rendered with.
"""

from functools import partial

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from cases import labels, refused_forms
from cases.admin import flywheel as flywheel_admin
from cases.admin import supervision as supervision_admin
from cases.admin.buttons import BUTTONS, PageState
from cases.admin.events import (
    IN_WORDS,
    CommentAsReadMixin,
    EventInWordsMixin,
    MaskedLookupsMixin,
    searchable_unmasked,
)
from cases.admin.export import csv_response, local_iso, refused_as_too_big
from cases.admin.readonly import PlainForeignKeysMixin, ReadOnlyAdminMixin
from cases.forms import errors_in_one_line
from cases.models import CLOCK_STATES, Case, CaseAssist, CaseEvent, ExtensionRequest, State
from cases.pagination import CasePaginator, count_up_to
from cases.privacy import (
    PERSONAL_FIELDS,
    can_see_personal_data,
    description_for,
    descriptions_searchable_by_digits,
    mask_contacts,
    masked_contact,
    masked_unless,
)
from cases.selectors import (
    case_passed_on,
    cases_user_may_name,
    cases_visible_to,
    latest_step,
    working_seconds_left,
)
from cases.services import arbitration, workflow
from cases.services.privacy import Purpose, reporter_contact_for
from cases.services.transitions import StaleCase, WorkflowError
from departments import wording
from departments.calendar import get_calendar
from departments.models import User
from departments.routing import written_id

# The most cases one "accept" action takes: each is a transition of its own (some 3–5 ms
# with its audit rows), so a thousand end in seconds, well inside gunicorn's 30 s timeout.
ACCEPT_MAX_CASES = 1_000
# The case numbers a bulk accept's refusal names for each reason, before "and N more".
REFUSED_CASES_NAMED = 3


class OverdueFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("overdue")),
            ("soon", _("due soon")),
            ("on_time", _("on time")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.overdue(now)
        if self.value() == "soon":
            return queryset.filter(state__in=CLOCK_STATES, due_at__gt=now, remind_at__lte=now)
        if self.value() == "on_time":
            return queryset.filter(state__in=CLOCK_STATES, remind_at__gt=now)
        return queryset


class WaitingForFilter(admin.SimpleListFilter):
    """Cases waiting for someone's decision: arbitration, an extension, a report for duty."""

    title = _("waiting for")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [
            ("arbitration", _("arbitration")),
            ("extension", _("an extension decision")),
            ("report_for_duty", _("a report for duty")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "arbitration":
            return arbitration.awaiting_arbitration(queryset)
        if self.value() == "extension":
            pending = ExtensionRequest.objects.filter(
                case=OuterRef("pk"), status=ExtensionRequest.Status.PENDING
            )
            return queryset.filter(Exists(pending))
        if self.value() == "report_for_duty":
            summons = CaseAssist.objects.filter(
                case=OuterRef("pk"), summoned=True, reported_at=None
            )
            if request.user.has_role(User.Role.LIAISON):
                # A liaison's queue: the summonses their own department has to answer.
                summons = summons.filter(department_id=request.user.department_id)
            return queryset.exclude(state__in=[State.CLOSED, State.CANCELLED]).filter(
                Exists(summons)
            )
        return queryset


CSV_COLUMNS = [
    ("number", lambda case: case.number),
    ("state", lambda case: case.state),
    ("category_code", lambda case: case.category.code if case.category_id else ""),
    ("township_code", lambda case: case.township.code),
    ("cell_code", lambda case: case.cell.code if case.cell_id else ""),
    (
        "lead_department_code",
        lambda case: case.lead_department.code if case.lead_department_id else "",
    ),
    ("urgency", lambda case: case.urgency),
    ("fallback_reason", lambda case: case.fallback_reason),
    ("return_count", lambda case: case.return_count),
    ("created_at", lambda case: local_iso(case.created_at)),
    ("due_at", lambda case: local_iso(case.due_at)),
    ("closed_at", lambda case: local_iso(case.closed_at)),
    ("escalation_level", lambda case: case.escalation_level),
]


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


@admin.register(Case)
class CaseAdmin(MaskedLookupsMixin, PlainForeignKeysMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
    list_filter = [
        "state",
        OverdueFilter,
        WaitingForFilter,
        "urgency",
        "township",
        "category",
        "lead_department",
    ]
    list_select_related = ["category", "cell", "township", "lead_department"]
    # A number matches in part, as on /cases/: "000123" finds 2026-000123.
    search_fields = ["number", "description", "address"]
    # The description is contact-masked as the reporter is (cases/privacy.py).
    masked_lookups = (*PERSONAL_FIELDS, "description")
    ordering = ["-created_at"]
    list_per_page = 50
    # One cheap count per page: no second count of the unfiltered total, and the page
    # count stops at a limit (cases/pagination.py).
    show_full_result_count = False
    paginator = CasePaginator
    # Facet counts are one COUNT per filter choice (dozens) over every visible case.
    show_facets = admin.ShowFacets.NEVER
    actions = ["accept_selected", "export_csv"]
    fieldsets = [
        (
            None,
            {"fields": ["number", "state", "urgency", "case_description", "address", "source"]},
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

    def get_queryset(self, request):
        return cases_visible_to(request.user, super().get_queryset(request))

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

    @admin.display(description=_("reporter"))
    def reporter_contact(self, case):
        shown = getattr(case, "reporter_contact_shown", None) or masked_contact(case)
        return str(shown) or "—"

    @admin.display(description=_("working time left"), ordering="due_at")
    def time_left(self, case, calendar=None):
        """Working time to the running deadline, or how far past it, as the case page says;
        for a suspended case, what its stopped clock keeps."""
        seconds = working_seconds_left(case, calendar=calendar)
        return (
            labels.working_time_words(seconds, overdue=case.is_overdue, titled=True)
            or labels.stopped_clock_words(case, titled=True)
            or "—"
        )

    def get_list_display(self, request):
        # One calendar per page, not one lookup of its version stamp per row.
        calendar = get_calendar()

        @admin.display(description=_("working time left"), ordering="due_at")
        def time_left(case):
            return self.time_left(case, calendar)

        return [time_left if name == "time_left" else name for name in self.list_display]

    # -- buttons on the change page ---------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/act/<slug:name>/",
                self.admin_site.admin_view(self.button_view),
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

    def button_forms(self, request, case) -> list[dict]:
        if not self.may_act(request):
            return []
        page = PageState.of(case, request.user)
        # What was typed into a refused press of a button comes back in that button's form.
        kept = refused_forms.take(request, page=request.path)
        return [
            {
                "name": button.name,
                "label": button.label,
                "note": button.note(page),
                "form": button.form(
                    kept[1] if kept and kept[0] == button.name else None,
                    initial=button.initial(page),
                    auto_id=f"id_{button.name}_%s",
                    **button.form_kwargs(case),
                ),
                "url": reverse(
                    f"{self.admin_site.name}:cases_case_act", args=[case.pk, button.name]
                ),
            }
            for button in BUTTONS.values()
            if button.offered(page)
        ]

    def get_search_fields(self, request):
        fields = searchable_unmasked(request, self.search_fields, "description")
        # A search that could probe a contact the reader sees masked matches the
        # description only where they read it as it is (cases/privacy.py), aliased below.
        return fields if "description" in fields else [*fields, "readable_description"]

    def get_search_results(self, request, queryset, search_term):
        if "readable_description" in self.get_search_fields(request):
            queryset = queryset.alias(
                readable_description=models.Case(
                    models.When(
                        descriptions_searchable_by_digits(request.user), then="description"
                    ),
                    default=models.Value(""),
                    output_field=models.TextField(),
                )
            )
        return super().get_search_results(request, queryset, search_term)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            # Masked for liaisons and supervisors; an unmasked view is logged.
            obj.reporter_contact_shown = reporter_contact_for(
                user=request.user, case=obj, purpose=Purpose.ADMIN, path=request.path
            )
            # The description, and the extension requests' reasons and notes, masked alike.
            context["sees_contacts"] = sees_contacts = can_see_personal_data(request.user, obj)
            obj.description_shown = masked_unless(obj.description, sees_contacts)
            context["transition_forms"] = self.button_forms(request, obj)
            context["extension_requests"] = obj.extension_requests.select_related(
                "requested_by", "decided_by"
            )
            # The audit rows the timeline inline shows, each with its details in words.
            labels.with_details(
                form.instance
                for inline in context.get("inline_admin_formsets", ())
                if inline.opts.model is CaseEvent
                for form in inline.formset.forms
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    @staticmethod
    def _refuse(request, case, text):
        messages.error(
            request, gettext("Case %(number)s: %(error)s") % {"number": case, "error": text}
        )

    def button_view(self, request, object_id, name):
        if request.method in ("GET", "HEAD"):
            # A button pressed once the session had ended comes back here as a GET after
            # signing in again (the login's `next`): show the case as it is now, rather
            # than a blank 405, and do nothing (as /cases/ does: cases.views.sign_in).
            case = self.get_object(request, unquote(object_id))
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:cases_case_change", args=[case.pk])
            )
        return require_POST(self._press)(request, object_id, name)

    def _press(self, request, object_id, name):
        button = BUTTONS.get(name)
        if button is None:
            raise Http404(gettext("No such action."))
        try:
            case = self.get_object(request, unquote(object_id))
        except Http404:
            pk = written_id(unquote(object_id))
            passed_on = pk and case_passed_on(request.user, request.POST.get("version"), pk=pk)
            if not passed_on:
                raise
            messages.error(request, labels.passed_on_words(passed_on))
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:cases_case_changelist"))
        if not (self.has_view_permission(request, case) and self.may_act(request)):
            raise PermissionDenied
        form = button.form(request.POST, request.FILES, **button.form_kwargs(case))
        change_page = reverse(f"{self.admin_site.name}:cases_case_change", args=[case.pk])
        back = HttpResponseRedirect(change_page)
        if not form.is_valid():
            self._refuse(request, case, errors_in_one_line(form))
            refused_forms.keep(request, form_name=name, page=change_page, fresh=form.retry_values())
            return back
        try:
            outcome = button.run(case=case, actor=request.user, data=form.cleaned_data)
        except WorkflowError as error:
            # The page shows the case as it is now (changed meanwhile, when that was the
            # refusal): what was typed is kept to act on that version, once read.
            if isinstance(error, StaleCase):
                # Said with what happened meanwhile, as the case page says it.
                changed = Case.objects.get(pk=case.pk)
                messages.error(
                    request,
                    labels.changed_meanwhile_words(
                        changed,
                        latest_step(changed),
                        action=capfirst(button.label),
                        still_possible=button.offered(PageState.of(changed, request.user)),
                    ),
                )
            else:
                self._refuse(request, case, str(error))
            current = Case.objects.filter(pk=case.pk).values_list("version", flat=True).first()
            refused_forms.keep(
                request, form_name=name, page=change_page, fresh={"version": current}
            )
            return back
        except ValidationError as error:  # the input again (a photo that is no image…)
            self._refuse(request, case, wording.join_clauses(error.messages))
            refused_forms.keep(request, form_name=name, page=change_page)
            return back
        messages.success(
            request,
            outcome
            or gettext("Case %(number)s: %(action)s done.")
            % {"number": case, "action": button.label},
        )
        if not self.get_queryset(request).filter(pk=case.pk).exists():
            # Out of this user's sight now (returned to the pool): back to the list, not
            # to a page that would say there is no such case.
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:cases_case_changelist"))
        return back

    # -- changelist actions -----------------------------------------------------------

    @admin.action(description=_("Accept the selected cases"), permissions=["accept"])
    def accept_selected(self, request, queryset):
        """Accept each selected case through the workflow service, each checked on its
        own: one refusal does not stop the others, and every refusal is reported. A
        selection bigger than one request can take ("select all" over a long list) is
        refused as a whole, before any case is touched."""
        if count_up_to(queryset, ACCEPT_MAX_CASES) > ACCEPT_MAX_CASES:
            self.message_user(
                request,
                gettext(
                    "Nothing was accepted: more than %(limit)s cases are selected, the most "
                    "one action accepts. Narrow the list (the state, the dates) and accept "
                    "it in parts."
                )
                % {"limit": number_format(ACCEPT_MAX_CASES, force_grouping=True)},
                messages.ERROR,
            )
            return
        accepted, seen = [], set()
        # The numbers refused, by reason, in the order the reasons first came.
        refused: dict[str, list[str]] = {}
        for case in queryset.select_related("category").order_by("created_at"):
            seen.add(case.pk)
            try:
                workflow.case_accept(case=case, actor=request.user)
            except WorkflowError as error:
                refused.setdefault(str(error), []).append(case.number)
            else:
                accepted.append(case.number)
        # Ticked on the page, but out of the list since (returned to the pool meanwhile,
        # or no longer in the filtered state): said, not silently skipped.
        ticked = {written_id(pk) for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)}
        if gone := ticked - seen - {None}:
            moved_on = gettext("it changed meanwhile and is no longer in this list")
            named = cases_user_may_name(request.user, gone).order_by("created_at")
            if numbers := list(named.values_list("number", flat=True)):
                refused.setdefault(moved_on, []).extend(numbers)
        if accepted:
            messages.success(
                request,
                ngettext(
                    "Accepted %(count)d case: %(numbers)s",
                    "Accepted %(count)d cases: %(numbers)s",
                    len(accepted),
                )
                % {"count": len(accepted), "numbers": wording.join_names(accepted)},
            )
        # One message per reason, naming the first few cases: "select all" over a list of
        # cases already in progress was a wall of the same refusal, case by case.
        for reason, numbers in refused.items():
            messages.error(
                request,
                ngettext(
                    "%(count)d case was not accepted (%(numbers)s): %(reason)s",
                    "%(count)d cases were not accepted (%(numbers)s): %(reason)s",
                    len(numbers),
                )
                % {"count": len(numbers), "numbers": _first_named(numbers), "reason": reason},
            )

    @admin.action(description=_("Export the selected cases as CSV"))
    def export_csv(self, request, queryset):
        if refused_as_too_big(self, request, queryset):
            return None
        cases = queryset.select_related(*self.list_select_related).order_by("created_at")
        return csv_response(
            "cases.csv",
            [*(name for name, _get in CSV_COLUMNS), "description"],
            (
                # The description as this user may read it (cases/privacy.py).
                [*(get(case) for _name, get in CSV_COLUMNS), description_for(request.user, case)]
                for case in cases.iterator(chunk_size=2000)
            ),
        )

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
            "events": labels.with_details(events),
            "sees_contacts": can_see_personal_data(request.user, case),
            "opts": self.opts,
            "module_name": str(self.opts.verbose_name_plural),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)


def _first_named(numbers: list[str]) -> str:
    """The first REFUSED_CASES_NAMED case numbers, then how many more, in words (a "…"
    read "2026-000150、…" in Chinese)."""
    named = wording.join_names(numbers[:REFUSED_CASES_NAMED])
    more = len(numbers) - REFUSED_CASES_NAMED
    if more <= 0:
        return named
    return ngettext("%(numbers)s and %(more)d more", "%(numbers)s and %(more)d more", more) % {
        "numbers": named,
        "more": more,
    }
