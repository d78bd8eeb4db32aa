"""Extension requests in the admin: a read-only list, scoped like the cases; decisions are
taken on the case's page (or from the email link), through the service. Reasons and notes
are read, searched and filtered on as audit comments are: a liaison's "reporter 138… not at
home" is masked for readers who see the reporter masked."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from cases.admin.events import ContactsAsReadMixin, UrlLookupsMixin, searchable_unmasked
from cases.admin.readonly import CaseScopedAdminMixin, PlainForeignKeysMixin
from cases.admin.search import SearchByIdsMixin
from cases.models import ExtensionRequest


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(
    SearchByIdsMixin,
    UrlLookupsMixin,
    PlainForeignKeysMixin,
    ContactsAsReadMixin,
    CaseScopedAdminMixin,
    admin.ModelAdmin,
):
    not_found_message = _("No such extension request.")
    list_display = [
        "created_at",
        "case_link",
        "department",
        "requested_by",
        "days",
        "status",
        "decider",
        "new_due_at",
    ]
    list_filter = ["status", "department", "created_at"]
    list_select_related = ["case", "department", "requested_by", "decided_by"]
    search_fields = ["=case__number", "reason"]
    masked_lookups = ("reason", "decision_note")
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = [
        "case",
        "department",
        "requested_by",
        "reason_as_read",
        "days",
        "old_due_at",
        "status",
        "decided_by",
        "decided_by_label",
        "decision_note_as_read",
        "decided_at",
        "new_due_at",
        "created_at",
    ]
    readonly_fields = fields

    def get_search_fields(self, request):
        return searchable_unmasked(request, self.search_fields, "reason")

    @admin.display(description=_("reason"))
    def reason_as_read(self, extension):
        return self.as_read(extension, extension.reason)

    @admin.display(description=_("decision note"))
    def decision_note_as_read(self, extension):
        return self.as_read(extension, extension.decision_note)

    @admin.display(description=_("case"), ordering="case__number")
    def case_link(self, extension):
        url = reverse(f"{self.admin_site.name}:cases_case_change", args=[extension.case_id])
        return format_html('<a href="{}">{}</a>', url, extension.case.number)

    @admin.display(description=_("extra working days"), ordering="extra_days")
    def days(self, extension):
        return extension.extra_days_shown  # 2, not the stored 2.00

    @admin.display(description=_("decided by"))
    def decider(self, extension):
        return extension.decider_display or "—"
