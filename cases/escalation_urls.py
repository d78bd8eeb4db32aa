"""Signed acknowledge links of escalation emails, included at `escalations/`."""

from django.urls import path

from cases.views import escalation

app_name = "escalations"
urlpatterns = [
    path("ack/<str:token>/", escalation.acknowledge, name="acknowledge"),
]
