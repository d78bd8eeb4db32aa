"""The buttons on a case's admin page: each one a small form that POSTs to its own admin
URL and calls one service. Which buttons a user sees is decided by the same rules the
services enforce; a forged POST of a hidden button is refused by the service."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from cases.forms import CHOOSE_THE_LEAD, MAX_TEXT_LENGTH
from cases.forms import extras as forms_extras
from cases.forms.fields import MultipleImageField
from cases.forms.transitions import AssistingDepartments
from cases.labels import TRANSITION_LABELS
from cases.models import ExtensionRequest
from cases.selectors.lists import with_listed_assisting
from cases.services import arbitration, extensions, liaison, workflow
from cases.services.photo_checks import copies_left_out
from cases.services.transitions import WorkflowError, available_transitions
from departments.models import Department
from departments.wording import join_sentences


class VersionForm(forms.Form):
    """The version the page showed: a case that changed since is refused as stale."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def retry_values(self) -> dict[str, list[str]]:
        """Values to show instead of what was typed when the refused form comes back."""
        return {}


class ReturnForm(VersionForm):
    reason = forms.CharField(
        label=_("Reason for returning"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=MAX_TEXT_LENGTH,
    )


class ResolveForm(VersionForm):
    note = forms.CharField(
        label=_("What was done"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=MAX_TEXT_LENGTH,
    )
    # The case page's picker: the limits said before choosing, and only pictures offered.
    photos = MultipleImageField(
        label=_("Photos of the fix"),
        help_text=_("Up to 5 JPEG, PNG or WebP images, 10 MB each."),
    )


class ReportForDutyForm(VersionForm, forms_extras.ReportForDutyForm):
    pass


class ExtensionRequestForm(VersionForm):
    extra_days = forms.DecimalField(
        label=_("Extra working days"),
        min_value=Decimal("0.1"),
        max_value=extensions.MAX_EXTRA_DAYS,
        decimal_places=2,
    )
    reason = forms.CharField(
        label=_("Why more time is needed"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=MAX_TEXT_LENGTH,
    )


class ExtensionDecisionForm(VersionForm, forms_extras.ExtensionDecisionForm):
    request = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A line among the page's other buttons; the email's page gives it three.
        self.fields["note"].widget.attrs["rows"] = 1


class ArbitrationForm(VersionForm, AssistingDepartments):
    """A supervisor's arbitration on the admin's case page: the lead, the assisting
    departments as the case page's dispatch form offers them, and the reasons."""

    lead = forms.ModelChoiceField(
        label=_("Lead department"),
        queryset=Department.objects.order_by("code"),
        empty_label=CHOOSE_THE_LEAD,
    )
    reason = forms.CharField(
        label=_("Reasons for the decision"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=MAX_TEXT_LENGTH,
    )

    field_order = ["version", "lead", "assisting", "reason"]

    def __init__(self, *args, case=None, listed_assisting=(), **kwargs):
        super().__init__(*args, **kwargs)
        departments = list(self.fields["lead"].queryset)
        choices = [(dept.pk, str(dept)) for dept in departments]
        self.offer_assisting(case, departments, choices, listed_assisting)

    def clean(self):
        data = super().clean()
        if "assisting" in data:
            data["assisting"] = self.assisting_beside(data.get("lead"), list(data["assisting"]))
        return data

    def retry_values(self) -> dict[str, list[str]]:
        # As the case page's dispatch form does: pressed again, the button arbitrates.
        return self.lead_unticked(["assisting"])


@dataclass(frozen=True)
class Button:
    name: str
    label: str
    form: type[forms.Form]
    # The workflow transition the button fires, if it fires one.
    transition: ClassVar[str | None] = None

    def offered(self, page: PageState) -> bool:
        raise NotImplementedError

    def initial(self, page: PageState) -> dict:
        return {"version": page.case.version}

    def form_kwargs(self, case) -> dict:
        """What this button's form needs of the case, shown or pressed."""
        return {}

    def note(self, page: PageState) -> str:
        """A line above the form: what the button is for, when the page does not say."""
        return ""

    def run(self, *, case, actor, data: dict) -> str | None:
        """Act through the service; a message of its own to say what came of it, or None."""
        raise NotImplementedError


@dataclass
class PageState:
    """What the buttons need to know about a case and a user, computed once per page."""

    case: object
    user: object
    transitions: list[str]
    pending_extension: ExtensionRequest | None
    summons: object

    @classmethod
    def of(cls, case, user) -> PageState:
        return cls(
            case=case,
            user=user,
            transitions=available_transitions(case, user),
            pending_extension=case.extension_requests.filter(
                status=ExtensionRequest.Status.PENDING
            ).first(),
            summons=liaison.pending_summons(case, user),
        )


class Accept(Button):
    transition = "accept"

    def offered(self, page):
        return "accept" in page.transitions

    def run(self, *, case, actor, data):
        workflow.case_accept(case=case, actor=actor, expected_version=data["version"])


class Return(Button):
    transition = "return"

    def offered(self, page):
        return "return" in page.transitions

    def run(self, *, case, actor, data):
        workflow.case_return(
            case=case, actor=actor, reason=data["reason"], expected_version=data["version"]
        )


class Resolve(Button):
    transition = "resolve"

    def offered(self, page):
        return "resolve" in page.transitions

    def run(self, *, case, actor, data):
        photos = data.get("photos") or []
        stored = liaison.case_resolve_with_photos(
            case=case,
            actor=actor,
            note=data["note"],
            photos=photos,
            expected_version=data["version"],
        )
        if len(stored) < len(photos):
            done = _("Case %(number)s: %(action)s done.") % {"number": case, "action": self.label}
            left_out = copies_left_out(len(photos) - len(stored))
            # Chinese writes no space after its full stop.
            return join_sentences([done, left_out])
        return None


class ReportForDuty(Button):
    def offered(self, page):
        return page.summons is not None

    def note(self, page):
        # The page's deadline is the lead's clock; the summoned department's own is this.
        due = page.summons.report_due_at
        if due is None:
            return _("The whistle summoned your department to assist: report for duty.")
        values = {"due": date_format(timezone.localtime(due), "DATETIME_FORMAT")}
        if page.summons.late_to_report:
            return (
                _(
                    "The whistle summoned your department to assist: reporting for duty was"
                    " due by %(due)s, and is late now."
                )
                % values
            )
        return (
            _("The whistle summoned your department to assist: report for duty by %(due)s.")
            % values
        )

    def run(self, *, case, actor, data):
        liaison.assist_report_for_duty(case=case, actor=actor, comment=data["comment"])


class RequestExtension(Button):
    def offered(self, page):
        return page.pending_extension is None and extensions.can_request_extension(
            page.case, page.user
        )

    def run(self, *, case, actor, data):
        extensions.extension_request(
            case=case,
            actor=actor,
            reason=data["reason"],
            extra_days=data["extra_days"],
            expected_version=data["version"],
        )


class DecideExtension(Button):
    def offered(self, page):
        return page.pending_extension is not None and extensions.can_decide_extension(
            page.case, page.user
        )

    def initial(self, page):
        return {**super().initial(page), "request": page.pending_extension.pk}

    def run(self, *, case, actor, data):
        request = case.extension_requests.filter(pk=data["request"]).first()
        if request is None:
            raise WorkflowError(_("No such extension request on this case."))
        decided = extensions.extension_decide(
            request=request,
            approve=data["decision"] == "approve",
            actor=actor,
            note=data["note"],
        )
        # What became of it, not that a decision was made: it may have lapsed meanwhile.
        return _("Case %(number)s: the extension request is %(status)s.") % {
            "number": case,
            "status": decided.get_status_display(),
        }


class Arbitrate(Button):
    transition = "dispatch"

    def offered(self, page):
        return page.case.needs_arbitration and "dispatch" in page.transitions

    def form_kwargs(self, case):
        (case,) = with_listed_assisting([case])
        return {"case": case, "listed_assisting": case.listed_assisting}

    def run(self, *, case, actor, data):
        arbitration.case_arbitrate(
            case=case,
            actor=actor,
            lead=data["lead"],
            assisting=data["assisting"],
            reason=data["reason"],
            expected_version=data["version"],
        )


BUTTONS = {
    button.name: button
    for button in [
        Accept("accept", TRANSITION_LABELS["accept"], VersionForm),
        Return("return", TRANSITION_LABELS["return"], ReturnForm),
        Resolve("resolve", TRANSITION_LABELS["resolve"], ResolveForm),
        ReportForDuty("report-for-duty", _("report for duty"), ReportForDutyForm),
        RequestExtension("request-extension", _("ask for an extension"), ExtensionRequestForm),
        DecideExtension("decide-extension", _("decide on the extension"), ExtensionDecisionForm),
        Arbitrate("arbitrate", _("name the lead department (arbitration)"), ArbitrationForm),
    ]
}
