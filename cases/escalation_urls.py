"""Signed acknowledge links of escalation emails, included at `escalations/`."""

from django.urls import path

from cases import views_escalation

app_name = "escalations"
urlpatterns = [
    path("ack/<str:token>/", views_escalation.acknowledge, name="acknowledge"),
]
