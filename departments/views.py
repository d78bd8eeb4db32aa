"""The invitation page: a new user sets their password from the signed link; the page
where a signed-in user changes it; and where each user lands once signed in."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.messages.views import SuccessMessageMixin
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django.views.i18n import set_language as django_set_language

from departments.invitations import InvitationError, read_invitation_token
from departments.models import User


def home_url(user: User) -> str:
    """Where a user's work is (SPEC §1): a liaison's in the admin's list of their
    department's cases, an administrator's in the admin; everybody else's in /cases/."""
    if user.role == User.Role.LIAISON:
        return reverse("admin:cases_case_changelist")
    if user.role == User.Role.ADMIN:
        return reverse("admin:index")
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def accept_invitation(request, token: str):
    try:
        user = read_invitation_token(token)
    except InvitationError as error:
        status = {"expired": 410, "used": 410}.get(error.reason, 400)
        return render(
            request, "departments/invitation_invalid.html", {"reason": error.reason}, status=status
        )
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        login(request, user, backend="departments.backends.RoleModelBackend")
        messages.success(request, _("Welcome! Your password is set."))
        return redirect(home_url(user))
    return render(request, "departments/invitation.html", {"form": form, "invited": user})


class PasswordChangeView(SuccessMessageMixin, auth_views.PasswordChangeView):
    """Every user's, in the site's pages (the admin has its own for staff): caseworkers and
    dispatchers never see the admin. The session stays signed in; back to their work."""

    template_name = "departments/password_change.html"
    success_message = gettext_lazy("Your password was changed.")

    def get_success_url(self):
        return home_url(self.request.user)


def set_language(request):
    """Django's language switch, which also makes the chosen language the signed-in user's
    email language (`User.remember_language`)."""
    response = django_set_language(request)
    language = request.POST.get("language", "") if request.method == "POST" else ""
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        request.user.remember_language(language)
    return response
