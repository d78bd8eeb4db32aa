"""The Django admin of cases: liaisons see only their department's cases and act on them
through the workflow services; nobody edits or deletes a case or an audit row here."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from cases.admin.cases import CaseAdmin
from cases.admin.escalations import EscalationAdmin, SweepRunAdmin
from cases.admin.events import CaseEventAdmin
from cases.admin.extensions import ExtensionRequestAdmin
from cases.admin.outbox import OutboxMessageAdmin

# The product's name on every admin page, not "Django administration".
admin.site.site_header = admin.site.site_title = _("Grid governance")
admin.site.index_title = _("Administration")
# The side menu took a quarter of a 1280 px screen from the case list, pushing the lead
# department and the time left out of sight; the breadcrumbs and the index lead there.
admin.site.enable_nav_sidebar = False

__all__ = [
    "CaseAdmin",
    "CaseEventAdmin",
    "EscalationAdmin",
    "ExtensionRequestAdmin",
    "OutboxMessageAdmin",
    "SweepRunAdmin",
]
