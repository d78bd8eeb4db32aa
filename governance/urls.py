from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from cases.views.dashboard import dashboard
from cases.views.health import healthz
from cases.views.sign_in import SignInView
from departments.views import (
    PasswordChangeView,
    accept_invitation,
    password_forgot,
    set_language,
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="cases:list", permanent=False), name="home"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/forgot/", password_forgot, name="password_forgot"),
    # Under this name too: Django's admin sign-in page then links to it ("Forgotten your
    # password or username?").
    path("accounts/password/forgot/", password_forgot, name="admin_password_reset"),
    path(
        "accounts/password/reset/<str:token>/",
        accept_invitation,
        {"reset": True},
        name="password_reset_confirm",
    ),
    # Before Django's own: the switch also sets the user's email language.
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Before admin/: including it registers the Open311 key admin (cases/open311/admin.py),
    # and admin.site.urls lists only the models registered by then.
    path("open311/v2/", include("cases.open311.urls")),
    path("admin/", admin.site.urls),
    path("cases/", include("cases.urls")),
    path("healthz", healthz, name="healthz"),
    path("dashboard/", dashboard, name="dashboard"),
    path("escalations/", include("cases.escalation_urls")),
    path("extensions/", include("cases.extension_urls")),
    path("accounts/invite/", include("departments.urls")),
]
