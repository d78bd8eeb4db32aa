"""The invitation page: a new user sets their password from the signed link (and a user
who forgot theirs from a password reset link); the page where one asks for that link; the
page where a signed-in user changes their password; and where each user lands once signed
in."""

from django import forms
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

from departments.invitations import (
    InvitationError,
    read_invitation_token,
    read_password_reset_token,
)
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
def accept_invitation(request, token: str, reset: bool = False):
    """An invitation's link, or with `reset` a password reset link (`password_forgot`):
    the same page, worded for a new account or for a new password."""
    try:
        user = read_password_reset_token(token) if reset else read_invitation_token(token)
    except InvitationError as error:
        status = {"expired": 410, "used": 410}.get(error.reason, 400)
        return render(
            request,
            "departments/invitation_invalid.html",
            {"reason": error.reason, "reset": reset},
            status=status,
        )
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        login(request, user, backend="departments.backends.RoleModelBackend")
        if reset:
            messages.success(request, _("Your new password is set."))
        else:
            messages.success(request, _("Welcome! Your password is set."))
        return redirect(home_url(user))
    return render(
        request, "departments/invitation.html", {"form": form, "invited": user, "reset": reset}
    )


class PasswordForgotForm(forms.Form):
    # No longer than an email address may be: the form is open to anyone.
    login = forms.CharField(
        label=gettext_lazy("Username or email address"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )


@never_cache
@require_http_methods(["GET", "POST"])
def password_forgot(request):
    """“Forgot your password?”: a reset link is emailed (through the outbox, after the
    commit) to each active user with an address whom the username or address typed names.
    The answer is the same whether anyone matched or not, and names no address: the page
    tells nobody which accounts exist. One email per user in a quarter of an hour
    (`password_reset_request`), however often the form is sent."""
    from cases.services.invitations import PASSWORD_RESET_EVERY, password_reset_request

    form = PasswordForgotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password_reset_request(login=form.cleaned_data["login"])
        every_minutes = int(PASSWORD_RESET_EVERY.total_seconds() // 60)
        return render(
            request,
            "registration/password_forgot.html",
            {"sent": True, "every_minutes": every_minutes},
        )
    return render(request, "registration/password_forgot.html", {"form": form})


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
