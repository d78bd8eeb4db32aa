"""The Django admin of cases: liaisons see only their department's cases and act on them
through the workflow services; nobody edits or deletes a case or an audit row here."""

from cases.admin.cases import CaseAdmin
from cases.admin.events import CaseEventAdmin
from cases.admin.extensions import ExtensionRequestAdmin

__all__ = ["CaseAdmin", "CaseEventAdmin", "ExtensionRequestAdmin"]
