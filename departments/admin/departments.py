"""Who handles what: departments (and their supervisors' addresses), the categories of
cases, and the responsibility list that joins them to places."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from departments.admin.codes import CodeForm
from departments.admin.imports import ImportExportMixin
from departments.admin.widgets import DESCRIBED_DATES
from departments.importers.categories import ancestor_loop, own_ancestor_message
from departments.importers.departments import not_an_email, split_emails
from departments.models import OWN_PARENT_MESSAGE, Category, Department, Responsibility


class DepartmentForm(CodeForm):
    def clean_supervisor_emails(self):
        emails, bad = split_emails(self.cleaned_data["supervisor_emails"])
        if bad:
            raise ValidationError([not_an_email(address) for address in bad])
        return ";".join(emails)


@admin.register(Department)
class DepartmentAdmin(ImportExportMixin, admin.ModelAdmin):
    import_subject = "departments"
    form = DepartmentForm
    list_display = ["code", "name", "supervisor_emails"]
    search_fields = ["code", "name"]


class CategoryForm(CodeForm):
    class Meta:
        model = Category
        fields = ["code", "name", "name_en", "parent", "accept_hours", "resolve_days"]

    def clean(self):
        """Refuse a parent loop (ENV → ENV-ADS → ENV), as the import does: routing climbs
        the parents, and an export with a loop could not be imported back."""
        data = super().clean()
        parent = data.get("parent")
        # A new category has no children to loop through.
        if parent is None or self.instance.pk is None:
            return data
        # Said here, not left to the database constraint: from Django 6.0 a constraint on
        # "pk" is not validated by a form, which has no "id" field (the save would fail).
        if parent.pk == self.instance.pk:
            self.add_error("parent", OWN_PARENT_MESSAGE)
            return data
        rows = Category.objects.exclude(pk=self.instance.pk).values_list("pk", "code", "parent")
        code_of = {pk: code for pk, code, _parent in rows}
        parent_of = {pk: parent_pk for pk, _code, parent_pk in rows}
        # The row being edited, with its new code and parent.
        code_of[self.instance.pk] = data.get("code") or self.instance.code
        parent_of[self.instance.pk] = parent.pk
        if loop := ancestor_loop(self.instance.pk, parent_of):
            self.add_error("parent", own_ancestor_message([code_of[pk] for pk in loop]))
        return data


@admin.register(Category)
class CategoryAdmin(ImportExportMixin, admin.ModelAdmin):
    import_subject = "categories"
    form = CategoryForm
    list_display = ["code", "name", "parent", "accept_hours", "resolve_days"]
    list_select_related = ["parent"]
    list_filter = [("parent", admin.EmptyFieldListFilter)]
    search_fields = ["code", "name", "name_en"]
    autocomplete_fields = ["parent"]


@admin.register(Responsibility)
class ResponsibilityAdmin(ImportExportMixin, admin.ModelAdmin):
    import_subject = "responsibilities"
    formfield_overrides = DESCRIBED_DATES
    list_display = [
        "category",
        "department",
        "scope",
        "role",
        "valid_from",
        "valid_to",
        "basis",
    ]
    list_filter = ["role", "department", "category", "township"]
    list_select_related = ["category", "department", "township", "cell"]
    search_fields = [
        "category__code",
        "category__name",
        "department__code",
        "department__name",
        "basis",
    ]
    autocomplete_fields = ["category", "department", "township", "cell"]

    @admin.display(description=_("scope"))
    def scope(self, rule):
        if rule.cell_id:
            return rule.cell
        if rule.township_id:
            return rule.township
        return _("everywhere")
