"""Admin mixins for rows that only services write: nobody adds, changes or deletes them
here, and rows about cases are shown only for cases the user may see."""

from functools import cache

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from cases.models import Case
from cases.selectors.access import cases_visible_to, sees_every_case


class ReadOnlyAdminMixin:
    # `obj=None` fits both ModelAdmin and InlineModelAdmin signatures.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CaseScopedAdminMixin(ReadOnlyAdminMixin):
    """For models with a `case` foreign key: scoped by `cases_visible_to`; a row outside
    the user's scope is a 404, as if it did not exist."""

    not_found_message = _("No such record.")

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if sees_every_case(request.user):
            # No semi-join over the whole case table: at 100,000 cases it made the audit
            # list's count four times and its date range a hundred times slower.
            return rows
        return rows.filter(case__in=cases_visible_to(request.user).values("pk"))

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is None:
            raise Http404(str(self.not_found_message))
        return found


class CaseLinkColumnMixin:
    """A `case_link` column for `list_display`: the row's case number, linked to the case's
    admin page for a user who may open it there, plain text for anyone else (like
    `PlainForeignKeysMixin` on the change page). Put `case` in `list_select_related`."""

    @admin.display(description=_("case"), ordering="case__number")
    def case_link(self, obj, linked=True):
        case = obj.case if obj.case_id else None
        if case is None:
            return "—"
        if not linked:
            return case.number
        url = reverse(f"{self.admin_site.name}:cases_case_change", args=[case.pk])
        return format_html('<a href="{}">{}</a>', url, case.number)

    def get_list_display(self, request):
        # Asked once per page, not once per row.
        case_admin = self.admin_site._registry.get(Case)
        linked = case_admin is not None and case_admin.has_view_permission(request)

        @admin.display(description=_("case"), ordering="case__number")
        def case_link(obj):
            return self.case_link(obj, linked)

        return [
            case_link if name == "case_link" else name for name in super().get_list_display(request)
        ]


class PlainForeignKeysMixin:
    """Read-only foreign keys as plain text to a user who may not open the related object's
    admin page: Django links them regardless, and the link would end in a 403."""

    def get_fieldsets(self, request, obj=None):
        plain = self._plain_foreign_keys(request)
        return [
            (title, {**options, "fields": [plain.get(name, name) for name in options["fields"]]})
            for title, options in super().get_fieldsets(request, obj)
        ]

    def get_readonly_fields(self, request, obj=None):
        plain = self._plain_foreign_keys(request)
        return [plain.get(name, name) for name in super().get_readonly_fields(request, obj)]

    def _plain_foreign_keys(self, request) -> dict:
        plain = {}
        for name in super().get_readonly_fields(request):
            try:
                field = self.model._meta.get_field(name) if isinstance(name, str) else None
            except FieldDoesNotExist:
                continue
            if field is None or not field.many_to_one:
                continue
            related_admin = self.admin_site._registry.get(field.related_model)
            if related_admin is None or not related_admin.has_view_permission(request):
                plain[name] = _as_text(field)
        return plain


@cache
def _as_text(field):
    """One callable per field: the admin finds a read-only field in its fieldsets by
    identity."""

    @admin.display(description=field.verbose_name)
    def as_text(obj):
        # None as the admin shows an empty field, not as the word "None" (a pooled case
        # has no lead department).
        related = getattr(obj, field.name)
        return admin.site.empty_value_display if related is None else related

    return as_text
