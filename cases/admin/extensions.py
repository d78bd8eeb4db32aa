"""Extension requests in the admin: a read-only list, scoped like the cases; decisions are
taken on the case's page (or from the email link), through the service."""

from django.contrib import admin
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.models import ExtensionRequest
from cases.selectors import cases_visible_to


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "case_link",
        "department",
        "requested_by",
        "extra_days",
        "status",
        "decider",
        "new_due_at",
    ]
    list_filter = ["status", "department", "created_at"]
    list_select_related = ["case", "department", "requested_by", "decided_by"]
    search_fields = ["=case__number", "reason"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = [
        "case",
        "department",
        "requested_by",
        "reason",
        "extra_days",
        "old_due_at",
        "status",
        "decided_by",
        "decided_by_label",
        "decision_note",
        "decided_at",
        "new_due_at",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        visible = cases_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(case__in=visible)

    def get_object(self, request, object_id, from_field=None):
        extension = super().get_object(request, object_id, from_field)
        if extension is None:
            raise Http404(gettext("No such extension request."))
        return extension

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("case"), ordering="case__number")
    def case_link(self, extension):
        url = reverse(f"{self.admin_site.name}:cases_case_change", args=[extension.case_id])
        return format_html('<a href="{}">{}</a>', url, extension.case.number)

    @admin.display(description=_("decided by"))
    def decider(self, extension):
        return extension.decider_display or "—"
