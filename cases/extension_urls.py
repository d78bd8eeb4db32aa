"""Signed decision links of extension-request emails, included at `extensions/`."""

from django.urls import path

from cases import views_extensions

app_name = "extensions"
urlpatterns = [
    path("decide/<str:token>/", views_extensions.decide, name="decide"),
]
