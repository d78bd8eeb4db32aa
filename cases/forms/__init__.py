"""Forms of the caseworker, dispatcher and supervisor pages, one module per subject;
import them from `cases.forms`. Forms validate input; the services in cases/services/ act on
it. No form ever carries a state: the URL names the transition."""

from django.utils.translation import gettext_noop

from cases.forms.extras import (
    CaseNoteForm,
    ExtensionDecisionForm,
    PhotosForm,
    ReportForDutyForm,
)
from cases.forms.filters import CaseFilterForm, DateRangeForm, period_date_field
from cases.forms.reporting import ReportForm
from cases.forms.transitions import (
    CHOOSE_THE_LEAD,
    MAX_TEXT_LENGTH,
    TRANSITION_FORMS,
    CancelForm,
    CommentForm,
    CorrectionForm,
    DispatchForm,
    NoteForm,
    ReasonForm,
    TransitionForm,
    VerifyForm,
    errors_in_one_line,
)

# Django's forms end each label with gettext(":"), which its own catalogue leaves ASCII in
# Chinese; marked here, the project's catalogue makes Chinese labels end in "：".
gettext_noop(":")

__all__ = [
    "CHOOSE_THE_LEAD",
    "MAX_TEXT_LENGTH",
    "TRANSITION_FORMS",
    "CancelForm",
    "CaseFilterForm",
    "CaseNoteForm",
    "CommentForm",
    "CorrectionForm",
    "DateRangeForm",
    "DispatchForm",
    "ExtensionDecisionForm",
    "NoteForm",
    "PhotosForm",
    "ReasonForm",
    "ReportForDutyForm",
    "ReportForm",
    "TransitionForm",
    "VerifyForm",
    "errors_in_one_line",
    "period_date_field",
]
