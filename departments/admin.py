"""The administrators' admin: townships, grid cells, departments, categories, the
responsibility list, the working calendar and users."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import ReadOnlyPasswordHashWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.fields import InvalidJSONInput
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from departments.admin_io import ImportExportMixin
from departments.calendar import calendar_notes, calendar_warnings, working_hours_text
from departments.importers import plan_users
from departments.importers.categories import ancestor_loop, own_ancestor_message
from departments.importers.checks import CODE_PATTERN, not_a_code
from departments.importers.departments import not_an_email, split_emails
from departments.importers.geometry import check_geometry, undecodable_json
from departments.invitations import invitations_revoke
from departments.models import (
    MOVED_CASES_NAMED,
    Category,
    Department,
    GridCell,
    Holiday,
    Responsibility,
    Township,
    User,
    admin_rights_lost,
)
from departments.services import sync_role_group
from departments.wording import join_names


class CodeForm(forms.ModelForm):
    """A code as the import reads it: one the import would refuse makes an export that
    does not import back."""

    # A township's code and a grid cell's share one namespace: a rule's scope names either.
    other_kind_of_scope = None

    def clean_code(self):
        code = self.cleaned_data["code"]
        if not CODE_PATTERN.match(code):
            raise ValidationError(not_a_code(code))
        if self.other_kind_of_scope and self.other_kind_of_scope.objects.filter(code=code).exists():
            raise ValidationError(
                gettext("“%(code)s” is both a township and a grid cell code: rename one.")
                % {"code": code}
            )
        return code


class TownshipForm(CodeForm):
    other_kind_of_scope = GridCell


@admin.register(Township)
class TownshipAdmin(admin.ModelAdmin):
    form = TownshipForm
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


class BoundaryField(forms.JSONField):
    """A cell's GeoJSON as typed. Where Python's decoder raises something other than
    JSONDecodeError (arrays thousands deep, a number of thousands of digits), Django's
    field answered 500: the form says what is wrong, and shows the text as typed again."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except (RecursionError, ValueError) as exc:
            raise ValidationError(undecodable_json(exc)) from None

    def bound_data(self, data, initial):
        # Showing the form again decodes the text once more, deeper in the stack.
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)


class GridCellForm(CodeForm):
    other_kind_of_scope = Township

    class Meta:
        model = GridCell
        fields = ["code", "name", "township", "community", "boundary"]
        field_classes = {"boundary": BoundaryField}

    def clean_boundary(self):
        # The grid import's rules and its [lng, lat] floats: an export then imports back
        # unchanged, where a closed-by-shapely ring or a height would be refused or differ.
        problems = []
        boundary, bbox = check_geometry(
            self.cleaned_data["boundary"], lambda _field, message: problems.append(message)
        )
        if problems:
            raise ValidationError(problems)
        self.bbox = bbox["min_lng"], bbox["min_lat"], bbox["max_lng"], bbox["max_lat"]
        return boundary

    def save(self, commit=True):
        cell = super().save(commit=False)
        cell.min_lng, cell.min_lat, cell.max_lng, cell.max_lat = self.bbox
        if commit:
            cell.save()
        return cell


@admin.register(GridCell)
class GridCellAdmin(ImportExportMixin, admin.ModelAdmin):
    import_subject = "grid"
    form = GridCellForm
    list_display = ["code", "name", "township", "community"]
    list_filter = ["township"]
    list_select_related = ["township"]
    search_fields = ["code", "name", "community"]
    autocomplete_fields = ["township"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if moved := getattr(obj, "cases_moved", 0):
            messages.info(
                request,
                ngettext(
                    "%(count)d open case moved with the cell to %(township)s.",
                    "%(count)d open cases moved with the cell to %(township)s.",
                    moved,
                )
                % {"count": moved, "township": obj.township.name},
            )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            neighbours = GridCell.objects.filter(township_id=obj.township_id).exclude(pk=obj.pk)
            context["cell_map"] = {
                "cell": _feature(obj.code, obj.boundary),
                "neighbours": {
                    "type": "FeatureCollection",
                    "features": [
                        _feature(code, boundary)
                        for code, boundary in neighbours.values_list("code", "boundary")
                    ],
                },
            }
        return super().render_change_form(request, context, add, change, form_url, obj)


def _feature(code: str, boundary: dict) -> dict:
    return {"type": "Feature", "geometry": boundary, "properties": {"code": code}}


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
        # A new category has no children to loop through; its own parent: the database
        # constraint's message says so.
        if parent is None or self.instance.pk is None or parent.pk == self.instance.pk:
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


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name"]
    list_filter = ["kind"]
    date_hierarchy = "date"
    search_fields = ["name"]

    # Running deadlines follow the calendar (cases/signals.py leaves the cases it moved on
    # each entry): the administrator is told how many, not only that the entry was saved.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self.tell_moved(request, [obj])

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.tell_moved(request, [obj])

    def delete_queryset(self, request, queryset):
        self.tell_moved(request, queryset.delete_each())

    @staticmethod
    def tell_moved(request, entries):
        moved = set().union(*(getattr(entry, "cases_moved", ()) for entry in entries))
        if moved:
            # Next year's holidays often move only a case's later escalation times, not the
            # deadline its page shows: say so, and name the cases to look at.
            numbers = sorted(set().union(*(getattr(e, "case_numbers_moved", ()) for e in entries)))
            named = join_names(numbers[:MOVED_CASES_NAMED])
            more = len(moved) - MOVED_CASES_NAMED
            if more > 0:
                # Said in words: a "…" after the list read "2026-000150、…。" in Chinese.
                # More than ten: always the plural.
                told = gettext(
                    "The deadlines or escalation times of %(count)d open cases moved with the "
                    "calendar: %(cases)s and %(more)d more."
                ) % {"count": len(moved), "cases": named, "more": more}
            else:
                told = ngettext(
                    "The deadline or escalation times of %(count)d open case moved with the "
                    "calendar: %(cases)s.",
                    "The deadlines or escalation times of %(count)d open cases moved with the "
                    "calendar: %(cases)s.",
                    len(moved),
                ) % {"count": len(moved), "cases": named}
            messages.info(request, told)

    def changelist_view(self, request, extra_context=None):
        # Years the calendar does not know count weekends only: say so, do not guess quietly.
        for warning in calendar_warnings():
            messages.warning(request, warning)
        for note in calendar_notes():
            messages.info(request, note)
        # What a day off takes from a deadline: these hours (WORKING_HOURS), not 24.
        extra_context = {
            **(extra_context or {}),
            "subtitle": _("Deadlines count working time: %(hours)s (%(zone)s) on working days.")
            % {"hours": working_hours_text(), "zone": settings.TIME_ZONE},
        }
        return super().changelist_view(request, extra_context)


class PasswordSummaryWidget(ReadOnlyPasswordHashWidget):
    """The password's summary without the button to set it: for those the password page
    refuses (it would answer 403). Its template is in the app's templates/: widgets are
    rendered by the form renderer, which looks in apps, not in the project's tree."""

    template_name = "departments/password_summary.html"


@admin.register(User)
class UserAdmin(ImportExportMixin, BaseUserAdmin):
    import_subject = "users"
    list_display = ["username", "full_name", "email", "role", "township", "department", "is_active"]
    list_filter = ["role", "township", "department", "is_active", "is_staff"]
    list_select_related = ["township", "department"]
    search_fields = ["username", "full_name", "email"]
    autocomplete_fields = ["township", "department"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (_("Person"), {"fields": ["full_name", "email", "language"]}),
        (_("Role"), {"fields": ["role", "township", "department"]}),
        (
            _("Access"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["username", "usable_password", "password1", "password2"],
            },
        ),
        (_("Person"), {"fields": ["full_name", "email", "language"]}),
        (_("Role"), {"fields": ["role", "township", "department"]}),
    ]
    readonly_fields = ["last_login", "date_joined"]
    # Only a superuser hands out what goes beyond a role: an administrator who is not one
    # could otherwise make themselves one.
    SUPERUSER_ONLY_FIELDS = ["is_superuser", "groups", "user_permissions"]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return readonly
        return [*readonly, *self.SUPERUSER_ONLY_FIELDS]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    @staticmethod
    def may_set_password(acting_user: User, user: User) -> bool:
        # Another's working password is never set here by someone who is not a superuser:
        # they would sign in as that person. New users are invited instead.
        return user.pk == acting_user.pk or acting_user.is_superuser

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, unquote(id))
        if user is not None and not self.may_set_password(request.user, user):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form
        acting_user = request.user
        password_settable = self.may_set_password(acting_user, obj)

        class GuardedUserForm(form):
            """The import's guard (departments/importers/users.py) on the change form: no
            one takes away their own administrator rights, and one active superuser stays."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                password = self.fields.get("password")
                if password is not None and not password_settable:
                    password.widget = PasswordSummaryWidget()
                    password.help_text = _(
                        "Only a superuser sets another person's password. To let this "
                        "person choose one, select them in the list of users and run "
                        "“Send an invitation to set a password”."
                    )

            def clean(self):
                data = super().clean()
                before = self.instance  # the form's values are put on it after clean()
                rights_lost, superuser_lost = admin_rights_lost(
                    before,
                    is_active=data.get("is_active", before.is_active),
                    is_superuser=data.get("is_superuser", before.is_superuser),
                    role=data.get("role", before.role),
                )
                if rights_lost and before.pk == acting_user.pk:
                    raise ValidationError(
                        _(
                            "This would take away your own administrator rights: ask "
                            "another administrator to do it."
                        )
                    )
                if superuser_lost:
                    others = User.objects.filter(is_active=True, is_superuser=True)
                    if not others.exclude(pk=before.pk).exists():
                        raise ValidationError(
                            _("This is the last active superuser: make another one first.")
                        )
                return data

        return GuardedUserForm

    def save_model(self, request, obj, form, change):
        if change and "is_active" in form.changed_data:
            # Either way: an account deactivated elsewhere (the shell) is reactivated here.
            invitations_revoke(obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the form's groups are saved: the role group follows the role.
        sync_role_group(form.instance)
        if not change:
            self._invite_new_user(request, form.instance)

    def _invite_new_user(self, request, user):
        """A user added without a usable password is invited to set one, as the import
        invites new users (SPEC §5): queued in the add's transaction, sent after its commit."""
        from cases.services.invitations import users_invite

        if users_invite(users=[user]):
            messages.success(
                request,
                gettext("An invitation to set a password was queued for %(email)s.")
                % {"email": user.email},
            )

    actions = ["invite_selected"]

    @admin.action(description=_("Send an invitation to set a password"), permissions=["change"])
    def invite_selected(self, request, queryset):
        """Only users with no usable password (new ones) are invited; the others are
        left alone, so nobody's working password can be reset from here. One already
        invited gets a fresh email: that is what the person clicking asks for."""
        from cases.services.invitations import users_invite

        invited = users_invite(users=list(queryset), again=True)
        messages.success(
            request, gettext("Invitations queued: %(count)d.") % {"count": len(invited)}
        )

    def plan_import(self, request, data):
        # Whoever imports may not take their own administrator rights away.
        return plan_users(data, acting_user=request.user)

    def after_import(self, request, result):
        from cases.services.invitations import users_invite

        invited = users_invite(users=result.created)
        return gettext("Invitations queued: %(count)d.") % {"count": len(invited)}
