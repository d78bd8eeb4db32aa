"""Forms of the transitions a case page offers, and of a dispatcher's correction. No
form ever carries a state: the URL names the transition; each carries the version of the
case the page showed."""

import re
from collections.abc import Collection, Sequence

from django import forms
from django.utils.translation import gettext_lazy as _

from cases.forms.fields import CodeOrIdChoiceField
from cases.models import Case
from departments.models import Category, Department, GridCell, User
from departments.wording import join_clauses, join_names, join_sentences, labelled

# The longest reason, note or comment a step takes, on the case page as in the admin
# (cases/admin/buttons.py): a page shows it whole, the pool page each returned case's reason.
MAX_TEXT_LENGTH = 2000


def errors_in_one_line(form: forms.Form) -> str:
    """A refused form's errors for a one-line message, each after its field's label
    ("Note: This field is required."); the form's own errors as they are. Punctuated in
    the active language: "说明：这个字段是必填项；原因：…" on a Chinese page."""
    return join_clauses(
        labelled(form[name].label, error) if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    )


class TransitionForm(forms.Form):
    """Every transition carries the version of the case the page was rendered with, so
    that of two people acting at once the second is told the case changed."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args, case: Case | None, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.case = case
        self.user = user
        if case is None:
            # Only rendered, shared by several cases: each case's button posts its version.
            del self.fields["expected_version"]
        else:
            self.fields["expected_version"].initial = case.version

    def retry_values(self) -> dict[str, list[str]]:
        """Values to show instead of what was typed when the refused form comes back."""
        return {}


class ReasonForm(TransitionForm):
    reason = forms.CharField(
        label=_("Reason"), max_length=MAX_TEXT_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )


class NoteForm(TransitionForm):
    note = forms.CharField(
        label=_("Note"), max_length=MAX_TEXT_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )


class CommentForm(TransitionForm):
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


# Which end of 1–5 is best, in words beside the number the figures average.
SATISFACTION_CHOICES = [
    ("", _("no rating")),
    ("1", _("1 – very dissatisfied")),
    ("2", _("2 – dissatisfied")),
    ("3", _("3 – neither")),
    ("4", _("4 – satisfied")),
    ("5", _("5 – very satisfied")),
]


class VerifyForm(CommentForm):
    satisfaction = forms.TypedChoiceField(
        label=_("Satisfaction"),
        choices=SATISFACTION_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )

    field_order = ["expected_version", "satisfaction", "comment"]


# The empty choice of the lead department pickers (the pool, the case page, the admin's
# arbitration), which a dispatch refuses: it asks for a choice.
CHOOSE_THE_LEAD = _("Choose the lead department…")


def listed_assisting_name(case: Case) -> str:
    """The name under which the pool page posts the assisting departments ticked in a
    case's row: its one dispatch form serves every case, and only the ticks of the case
    dispatched may count."""
    return f"assisting-{case.number}"


class AssistingDepartments(forms.Form):
    """The assisting departments a dispatch names (SPEC §2), as the dispatch form and the
    admin's arbitration offer them: those the assist rules name and those on the case
    already come ticked; unticked, one leaves the case (`workflow.case_dispatch`)."""

    assisting = forms.ModelMultipleChoiceField(
        label=_("Assisting departments"),
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def offer_assisting(
        self,
        case: Case | None,
        departments: Sequence[Department],
        choices: list[tuple[int, str]],
        listed_assisting: Sequence[int] = (),
        lead: int | None = None,
    ) -> None:
        """`departments`: all of them, by code; `choices`: in the order to offer them;
        `listed_assisting`: the ids the assist rules name (`with_listed_assisting`), ticked
        unless `lead` is preselected to lead."""
        field = self.fields["assisting"]
        field.queryset = Department.objects.order_by("code")
        field.choices = choices
        known = {dept.pk for dept in departments}
        listed_assisting = [pk for pk in listed_assisting if pk in known]
        # A dispatch names the case's assisting departments: those on it already (a
        # returned case's) stay only if still ticked.
        attached = [assist.department_id for assist in case.assists.all()] if case else []
        self.attached = attached
        if not self.is_bound:
            # Routing would have attached the listed ones: the dispatcher need not remember
            # them, and unticks any not wanted. A refused form comes back as it was typed.
            # One on the case already stays ticked though preselected to lead: were another
            # lead chosen, it would otherwise leave the case unnoticed.
            ticked = dict.fromkeys([*listed_assisting, *attached])
            field.initial = [pk for pk in ticked if pk != lead or pk in attached]

        def names(pks):
            return join_names(str(d) for d in departments if d.pk in pks)

        help_texts = []
        if listed_assisting:
            help_texts.append(
                _("The responsibility list names %(departments)s to assist.")
                % {"departments": names(listed_assisting)}
            )
        if attached:
            help_texts.append(
                _("On the case already: %(departments)s; unticked, a department leaves it.")
                % {"departments": names(attached)}
            )
        field.help_text = join_sentences(help_texts)

    def lead_unticked(self, names: Sequence[str]) -> dict[str, list[str]]:
        """The refused form's ticks under `names` without the lead's: a lead also ticked
        to assist comes back unticked (the refusal says why), so that the form shows a
        choice that goes through as it stands."""
        lead = self.cleaned_data.get("lead")
        if lead is None:
            return {}
        return {
            name: [value for value in self.data.getlist(name) if value != str(lead.pk)]
            for name in names
            if str(lead.pk) in self.data.getlist(name)
        }

    def assisting_beside(self, lead: Department | None, assisting: list) -> list:
        """`assisting` as the case will have it beside `lead`: a lead that was on the case
        (its box came ticked) now leads instead; one newly ticked too is refused."""
        if lead is not None and lead in assisting and lead.pk in self.attached:
            assisting = [dept for dept in assisting if dept != lead]
        elif lead is not None and lead in assisting:
            # Silently dropped, a whistle summoning only the lead would summon nobody.
            self.add_error(
                "assisting",
                _("%(department)s leads: it cannot also assist.") % {"department": lead},
            )
        return assisting


class DispatchForm(CommentForm, AssistingDepartments):
    lead = CodeOrIdChoiceField(label=_("Lead department"), queryset=Department.objects.none())
    whistle = forms.BooleanField(
        label=_("Blow the whistle (the assisting departments must report for duty)"),
        required=False,
    )

    field_order = ["expected_version", "lead", "whistle", "assisting", "comment"]

    def __init__(
        self,
        *args,
        suggested: Sequence[Department] | None = None,
        listed_assisting: Sequence[int] = (),
        returned_by: Collection[int] = (),
        **kwargs,
    ):
        """`suggested`: the departments to offer first, in order (the case page passes
        `dispatch_suggestions`); by default the router's candidates, prefetched with the
        case. The only suggestion is preselected as the lead, unless it is among
        `returned_by` (the ids of the departments that returned the case, which an
        arbitration offers): a department that refused the case twice is no default,
        the arbiter chooses. `listed_assisting`: the ids of the departments the assist
        rules name (`with_listed_assisting`), ticked to assist unless preselected to lead."""
        super().__init__(*args, **kwargs)
        queryset = Department.objects.order_by("code")
        self.fields["lead"].queryset = queryset
        departments = list(queryset)  # once, for both fields' choices
        if suggested is None:
            suggested = list(self.case.candidate_departments.all()) if self.case else []
        first = [dept.pk for dept in suggested]
        by_pk = {d.pk: d for d in departments}
        candidates = [(pk, str(by_pk[pk])) for pk in first if pk in by_pk]
        others = [(d.pk, str(d)) for d in departments if d.pk not in first]
        if len(candidates) == 1 and not self.is_bound and candidates[0][0] not in returned_by:
            self.fields["lead"].initial = candidates[0][0]
        lead_choices = [("", CHOOSE_THE_LEAD)]
        if candidates:
            lead_choices += [(_("Candidates"), candidates), (_("Other departments"), others)]
        else:
            lead_choices += others
        self.fields["lead"].choices = lead_choices
        self.offer_assisting(
            self.case,
            departments,
            candidates + others,
            listed_assisting,
            lead=self.fields["lead"].initial,
        )

    def listed_assisting_boxes(self, case: Case) -> list[tuple[str, int, str, bool]]:
        """The pool page's checkboxes for the departments the assist rules name for `case`
        (`with_listed_assisting`) and those on it already (`assists`, prefetched: a
        returned case's), in the order of the form's: name, value, label and
        whether ticked, which is as typed when the form comes back refused."""
        name = listed_assisting_name(case)
        ticked = set(self.data.getlist(name)) if self.is_bound else None
        offered = {*case.listed_assisting, *(assist.department_id for assist in case.assists.all())}
        return [
            (name, pk, label, ticked is None or str(pk) in ticked)
            for pk, label in self.fields["assisting"].choices
            if pk in offered
        ]

    def clean(self):
        data = super().clean()
        if self.case is not None and self.case.needs_arbitration and not data.get("comment"):
            # An arbitration is final, and the admin's asks for its reason too.
            self.add_error("comment", _("Say why this department leads: an arbitration is final."))
        lead, assisting = data.get("lead"), list(data.get("assisting") or [])
        if self.case is not None and "assisting" in data:
            # Ticked in the case's row of the pool page, beside those of the shared list.
            try:
                listed = self.fields["assisting"].clean(
                    self.data.getlist(listed_assisting_name(self.case))
                )
            except forms.ValidationError as error:
                self.add_error("assisting", error)
            else:
                assisting += [dept for dept in listed if dept not in assisting]
                data["assisting"] = assisting
        if "assisting" in data:
            data["assisting"] = assisting = self.assisting_beside(lead, assisting)
        if data.get("whistle") and not assisting:
            self.add_error("assisting", _("Choose the departments the whistle summons."))
        return data

    def retry_values(self) -> dict[str, list[str]]:
        return self.lead_unticked(
            ["assisting"] + ([listed_assisting_name(self.case)] if self.case else [])
        )


class CancelForm(ReasonForm):
    duplicate_of = forms.CharField(
        label=_("Duplicate of case number"), required=False, max_length=16
    )

    def clean_duplicate_of(self):
        from cases.selectors.access import cases_visible_to

        number = self.cleaned_data["duplicate_of"].strip()
        if not number:
            return None
        # Typed as read aloud or copied from a spreadsheet: 2026000292, 2026－000292.
        typed = re.fullmatch(r"(\d{4})\s*[-－—_]?\s*(\d{6})", number)
        if typed:
            number = f"{typed[1]}-{typed[2]}"
        original = cases_visible_to(self.user).filter(number=number).first()
        if original is None:
            raise forms.ValidationError(
                _("There is no case %(number)s that you may see."), params={"number": number}
            )
        if original.pk == self.case.pk:
            raise forms.ValidationError(_("A case cannot be a duplicate of itself."))
        return original


# Which form each transition of SPEC §2 takes (the URL names the transition).
TRANSITION_FORMS: dict[str, type[TransitionForm]] = {
    "dispatch": DispatchForm,
    "accept": TransitionForm,
    "return": ReasonForm,
    "resolve": NoteForm,
    "verify": VerifyForm,
    "reopen": ReasonForm,
    "suspend": ReasonForm,
    "resume": CommentForm,
    "cancel": CancelForm,
}


class CorrectionForm(TransitionForm):
    category = forms.ModelChoiceField(
        label=_("Category"),
        queryset=Category.objects.order_by("code"),
        required=False,
        # The reporter's "not sure" is the dispatcher's own call here: no category, the pool.
        empty_label=_("Not classified (the case goes to the pool)"),
    )
    # No cell: the case is placed outside the grid, and routed as such.
    cell = forms.ModelChoiceField(
        label=_("Grid cell"),
        queryset=GridCell.objects.none(),
        required=False,
        empty_label=_("outside the grid"),
    )
    # The department the dispatcher was told had returned the case, and agreed to send it
    # back to (`return_by_new_lead`): set on the form that comes back with that warning.
    returner_agreed = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cell"].queryset = GridCell.objects.filter(
            township_id=self.case.township_id
        ).order_by("code")
        self.fields["category"].initial = self.case.category_id
        self.fields["cell"].initial = self.case.cell_id
