"""The audit trail in the admin: read-only for everybody, scoped like the cases."""

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.db.models import Value
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext_lazy as _

from cases import labels, trail_words
from cases.admin.export import csv_response, local_iso, refused_as_too_big
from cases.admin.readonly import CaseScopedAdminMixin, PlainForeignKeysMixin
from cases.admin.search import IndexedText, SearchByIdsMixin
from cases.models import CaseEvent, Source
from cases.pagination import CasePaginator
from cases.privacy import masked_unless, search_skips_masked_texts, sees_every_contact
from cases.selectors.supervision import events_of_department
from departments.models import Department, User


class EventInWordsMixin:
    """An audit row's action and states in words, in the page's language, not as codes.
    Not sortable: the codes would not sort as the words read, and a sort by any of them
    read and sorted a district's whole trail (1 s at 1.5 million rows); the filters narrow
    by them instead."""

    @admin.display(description=_("action"))
    def action_in_words(self, event):
        return labels.action_label(event.action)

    @admin.display(description=_("details"))
    def detail_in_words(self, event):
        # Set for the whole page at once by get_changelist_instance.
        return getattr(event, "detail", "")

    @admin.display(description=_("from state"))
    def from_state_in_words(self, event):
        return labels.state_label(event.from_state)

    @admin.display(description=_("to state"))
    def to_state_in_words(self, event):
        return labels.state_label(event.to_state)

    @admin.display(description=_("actor"))
    def actor_display(self, event):
        return event.actor_display


def searchable_unmasked(request, search_fields, *free_texts):
    """The admin's search fields less the free texts, when the search text could probe a
    contact the reader sees masked (cases/privacy.py). The admin's autocomplete searches
    with the same fields, its text in `term` (/admin/autocomplete/?…&term=1381)."""
    search = " ".join(request.GET.get(name, "") for name in (SEARCH_VAR, "term"))
    if not search_skips_masked_texts(request.user, search):
        return search_fields
    return [name for name in search_fields if name not in free_texts]


# Lookups no page of the admin links to, which a value typed into the URL turns into a
# database error (a 500): `?number__regex=(a`, `?id__range=1`; a regex also scans every row.
HAND_TYPED_ONLY_LOOKUPS = frozenset({"regex", "iregex", "range"})


class UrlLookupsMixin:
    """The admin filters on any of a model's own fields from the URL (`?description__contains=
    1381`). On a field the reader sees masked, matching one digit at a time would give the
    masked ones away, as a search would (`searchable_unmasked`). A refused lookup is a 400,
    as is a value with a NUL (the database cannot compare with one)."""

    masked_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup, value, request):
        parts = lookup.split(LOOKUP_SEP)
        if parts[-1] in HAND_TYPED_ONLY_LOOKUPS or "\x00" in str(value):
            return False
        if parts[0] in self.masked_lookups and not sees_every_contact(request.user):
            return False
        return super().lookup_allowed(lookup, value, request)


class ContactsAsReadMixin:
    """Free texts carry phone numbers as often as descriptions do (a liaison's "called
    138…"): masked for readers who see reporters masked (cases/privacy.py). The admin is
    for liaisons, supervisors and administrators, of whom only administrators read contacts
    unmasked; display methods get no request, so each row carries the reader's standing."""

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(reader_sees_contacts=Value(sees_every_contact(request.user)))
        )

    @staticmethod
    def as_read(row, text: str) -> str:
        return masked_unless(text, getattr(row, "reader_sees_contacts", False))


class CommentAsReadMixin(ContactsAsReadMixin):
    @admin.display(description=_("comment"))
    def comment_as_read(self, event):
        return self.as_read(event, event.shown_comment)


IN_WORDS = [
    "action_in_words",
    "detail_in_words",
    "from_state_in_words",
    "to_state_in_words",
    "actor_display",
]


def filter_in_words(field_name: str, title, labels_by_code: dict):
    """A list filter on a code column whose choices read in words, in the page's language
    (the column itself has no choices to name them)."""

    class InWords(admin.SimpleListFilter):
        parameter_name = field_name

        def lookups(self, request, model_admin):
            return list(labels_by_code.items())

        def queryset(self, request, queryset):
            # A comma list takes in several (the supervision page's "given" link).
            value = self.value()
            return queryset.filter(**{f"{field_name}__in": value.split(",")}) if value else queryset

    InWords.title = title
    return InWords


class DepartmentFilter(admin.SimpleListFilter):
    """The audit rows a department's supervision figures count (cases/selectors/supervision.py)."""

    title = _("department")
    parameter_name = "department"

    def lookups(self, request, model_admin):
        departments = Department.objects.all()
        if request.user.has_role(User.Role.LIAISON):
            # Their own department's: the rows of another's among the cases a liaison sees
            # are few, and finding them read the whole trail (6 s at 5 million rows).
            departments = departments.filter(pk=request.user.department_id)
        return [(str(pk), name) for pk, name in departments.values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            return events_of_department(queryset, int(value))
        except ValueError:
            return queryset.none()


CSV_HEADER = ["at", "case", "action", "from_state", "to_state", "actor", "comment"]


@admin.register(CaseEvent)
class CaseEventAdmin(
    SearchByIdsMixin,
    UrlLookupsMixin,
    PlainForeignKeysMixin,
    CommentAsReadMixin,
    EventInWordsMixin,
    CaseScopedAdminMixin,
    admin.ModelAdmin,
):
    not_found_message = _("No such audit event.")
    list_display = ["at", "case", *IN_WORDS, "comment_as_read"]
    list_filter = [
        filter_in_words("action", _("action"), labels.ACTION_LABELS),
        DepartmentFilter,
        "actor__role",
        filter_in_words("from_state", _("from state"), labels.STATE_LABELS),
        filter_in_words("to_state", _("to state"), labels.STATE_LABELS),
        "at",
    ]
    list_select_related = ["case", "actor"]
    search_fields = ["=case__number", "actor__username", "actor_label", "comment"]
    # The free texts migration 0035 indexes, less the values many rows share: no comment,
    # or a label that names no one (the system, a source of reports).
    indexed_texts = (
        IndexedText("comment", unindexed=("",)),
        IndexedText("actor_label", unindexed=("", "system", *Source.values)),
    )
    masked_lookups = ("comment",)
    # No date hierarchy: its first and last dates and its list of months each read every
    # row in scope, seconds for a department's million audit rows. The "at" filter above
    # narrows by date, and the supervision page links here with its period.
    ordering = ["-at", "-id"]
    show_full_result_count = False
    # A count that stops at a limit, as the case list's (cases/pagination.py).
    paginator = CasePaginator
    fields = [
        "case",
        "action_in_words",
        "from_state_in_words",
        "to_state_in_words",
        "actor",
        "actor_label",
        "comment_as_read",
        "data",
        "at",
    ]
    readonly_fields = fields
    actions = ["export_csv"]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # The page's rows, evaluated here and cached, each with its details in words.
        trail_words.with_details(changelist.result_list)
        return changelist

    def get_search_fields(self, request):
        return searchable_unmasked(request, self.search_fields, "comment")

    @admin.action(description=_("Export the selected audit rows as CSV"))
    def export_csv(self, request, queryset):
        if refused_as_too_big(self, request, queryset):
            return None
        sees_contacts = sees_every_contact(request.user)
        events = queryset.select_related("case", "actor").order_by("at", "id")
        return csv_response(
            "audit-trail.csv",
            CSV_HEADER,
            (
                [
                    local_iso(event.at),
                    event.case.number,
                    event.action,
                    event.from_state,
                    event.to_state,
                    event.actor.username if event.actor_id else event.actor_label,
                    masked_unless(event.comment, sees_contacts),
                ]
                for event in events.iterator(chunk_size=2000)
            ),
        )
