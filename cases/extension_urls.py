"""Signed decision links of extension-request emails, included at `extensions/`."""

from django.urls import path

from cases.views import extensions

app_name = "extensions"
urlpatterns = [
    path("decide/<str:token>/", extensions.decide, name="decide"),
]
