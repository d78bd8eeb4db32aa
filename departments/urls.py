"""Invitation links (set your password), included at `accounts/invite/`."""

from django.urls import path

from departments import views

app_name = "invitations"
urlpatterns = [
    path("<str:token>/", views.accept_invitation, name="accept"),
]
