"""The cases changelist and change page.

Every queryset goes through `cases_visible_to`, and `get_object` turns "not visible" into
a 404, so the change, history and transition URLs of another department's case do not
exist for a liaison. The page is read-only for everybody: the state is a protected FSM
field and moves only through the workflow services, which the transition buttons call
with the version the page was rendered with.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from cases.models import Case, CaseAssist, CaseEvent
from cases.selectors import cases_visible_to
from cases.services import workflow
from cases.services.workflow import TRANSITION_LABELS, WorkflowError


class TransitionForm(forms.Form):
    """The version the page showed: a case that changed since is refused as stale."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class ReturnForm(TransitionForm):
    reason = forms.CharField(
        label=_("Reason for returning"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )


class ResolveForm(TransitionForm):
    note = forms.CharField(
        label=_("What was done"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )


def _accept(*, case, actor, version, data):
    return workflow.case_accept(case=case, actor=actor, expected_version=version)


def _return(*, case, actor, version, data):
    return workflow.case_return(
        case=case, actor=actor, reason=data["reason"], expected_version=version
    )


def _resolve(*, case, actor, version, data):
    return workflow.case_resolve(
        case=case, actor=actor, note=data["note"], expected_version=version
    )


# The transitions the admin offers: name → (form, service call). Other transitions belong
# to township staff and supervisors, who use the web pages.
ADMIN_TRANSITIONS = {
    "accept": (TransitionForm, _accept),
    "return": (ReturnForm, _return),
    "resolve": (ResolveForm, _resolve),
}


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    fields = ["at", "action", "from_state", "to_state", "actor_display", "comment"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = _("timeline")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("actor"))
    def actor_display(self, event):
        return event.actor_display


class CaseAssistInline(admin.TabularInline):
    model = CaseAssist
    fields = ["department", "summoned", "report_due_at", "reported_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("department")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "state",
        "category",
        "cell",
        "township",
        "lead_department",
        "urgency",
        "created_at",
        "due_at",
    ]
    list_display_links = ["number"]
    list_filter = ["state", "urgency", "township", "category", "lead_department"]
    list_select_related = ["category", "cell", "township", "lead_department"]
    search_fields = ["=number", "description", "address"]
    date_hierarchy = None
    ordering = ["-created_at"]
    list_per_page = 50
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {"fields": ["number", "state", "urgency", "description", "address", "source"]},
        ),
        (
            _("Place"),
            {"fields": ["township", "cell", "lat", "lng"]},
        ),
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
        (
            _("Deadline"),
            {"fields": ["deadline_kind", "due_at", "escalation_level"]},
        ),
        (
            _("Reporter"),
            {
                "fields": [
                    "reported_by",
                    "reporter_name",
                    "reporter_phone",
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

    # -- nobody adds, edits or deletes a case here ------------------------------------

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def may_act(self, request) -> bool:
        """Whether the transition buttons are open to this user at all; the workflow
        services still decide, per case, which transition this user may fire."""
        return request.user.has_perm("cases.change_case")

    # -- transition buttons -----------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/transition/<slug:name>/",
                self.admin_site.admin_view(self.transition_view),
                name="{}_{}_transition".format(*info),
            ),
            *super().get_urls(),
        ]

    def transition_forms(self, request, case) -> list[dict]:
        if not self.may_act(request):
            return []
        allowed = workflow.available_transitions(case, request.user)
        return [
            {
                "name": name,
                "label": TRANSITION_LABELS[name],
                "form": form_class(initial={"version": case.version}, prefix=name),
                "url": reverse(
                    f"{self.admin_site.name}:cases_case_transition", args=[case.pk, name]
                ),
            }
            for name, (form_class, _call) in ADMIN_TRANSITIONS.items()
            if name in allowed
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["transition_forms"] = self.transition_forms(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @staticmethod
    def _refuse(request, case, text):
        messages.error(
            request, gettext("Case %(number)s: %(error)s") % {"number": case, "error": text}
        )

    def transition_view(self, request, object_id, name):
        return require_POST(self._transition)(request, object_id, name)

    def _transition(self, request, object_id, name):
        case = self.get_object(request, unquote(object_id))
        if name not in ADMIN_TRANSITIONS:
            raise Http404(gettext("No such action."))
        if not (self.has_view_permission(request, case) and self.may_act(request)):
            raise PermissionDenied
        form_class, call = ADMIN_TRANSITIONS[name]
        form = form_class(request.POST, prefix=name)
        back = HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:cases_case_change", args=[case.pk])
        )
        if not form.is_valid():
            errors = "; ".join(
                str(error) for field_errors in form.errors.values() for error in field_errors
            )
            self._refuse(request, case, errors)
            return back
        try:
            call(
                case=case,
                actor=request.user,
                version=form.cleaned_data["version"],
                data=form.cleaned_data,
            )
        except WorkflowError as error:
            self._refuse(request, case, str(error))
            return back
        messages.success(
            request,
            gettext("Case %(number)s: %(action)s done.")
            % {"number": case, "action": TRANSITION_LABELS[name]},
        )
        return back

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
            "events": events,
            "opts": self.opts,
            "module_name": str(self.opts.verbose_name_plural),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)
