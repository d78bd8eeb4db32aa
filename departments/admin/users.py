"""Users and their roles: only a superuser grants what goes beyond a role or sets another
person's password; nobody takes away their own administrator rights or the last active
superuser's; a new user is invited to set a password."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import ReadOnlyPasswordHashWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from departments.admin.imports import ImportExportMixin
from departments.importers import plan_users
from departments.invitations import invitations_revoke
from departments.models import User, admin_rights_lost
from departments.services import sync_role_group


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
                        "Only a superuser sets another person's password. A new user "
                        "chooses one from an invitation (select them in the list of users "
                        "and run “Send an invitation to set a password”); anyone else with "
                        "an email address, from “Forgot your password?” on the sign-in page."
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
