"""/accounts/login/: Django's sign-in page, but a case's POST-only address as `next` lands
on the case's page, and with no `next` each user lands where their work is."""

from urllib.parse import urlsplit

from django.contrib.auth import views as auth_views
from django.urls import Resolver404, resolve, reverse

from departments.views import home_url

# The addresses under a case that answer GET (cases/urls.py); every other one (a transition, a note,
# photos, a correction, a report for duty) takes only a POST.
CASE_PAGES = {"detail", "photo"}


def landing_url(url: str) -> str:
    """Where `next` takes a user who has just signed in. A form posted once the session had
    ended was sent to sign in with its own POST-only address as `next`, where a GET is a
    blank 405: such an address leads to its case's page instead (the POST is not replayed;
    the user sees the case as it is now). Any other `next` is left as it is."""
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return url
    if match.namespace != "cases" or "number" not in match.kwargs or match.url_name in CASE_PAGES:
        return url
    return reverse("cases:detail", kwargs={"number": match.kwargs["number"]})


class SignInView(auth_views.LoginView):
    def get_redirect_url(self):
        # Already checked to be of this site; also the form's hidden `next`.
        url = super().get_redirect_url()
        return landing_url(url) if url else url

    def form_invalid(self, form):
        # The page says the pair did not match, above the form: a screen reader hears it on
        # either field, each marked invalid.
        for name in ("username", "password"):
            form.fields[name].widget.attrs.update(
                {"aria-invalid": "true", "aria-describedby": "sign-in-error"}
            )
        return super().form_invalid(form)

    def get_default_redirect_url(self):
        return home_url(self.request.user)
