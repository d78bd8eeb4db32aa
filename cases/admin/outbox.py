"""The email outbox in the admin: read-only, for administrators only (whoever reads it reads
every email about every case). Failed messages are sent again through the outbox service.

The outbox only grows (a sweep writes thousands of rows), so the list pages by the primary
key's index, counts only up to a limit (cases/pagination.py), and filters on values it
knows without asking the table: no DISTINCT over every row for a filter or a date
hierarchy.
"""

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from cases import labels
from cases.admin.events import filter_in_words
from cases.admin.readonly import CaseLinkColumnMixin, PlainForeignKeysMixin, ReadOnlyAdminMixin
from cases.admin.search import SearchByIdsMixin
from cases.models import OutboxMessage
from cases.pagination import CasePaginator
from cases.services.outbox.resend import outbox_messages_resend
from cases.signed_links import without_tokens
from departments import wording


class OutboxColumnsMixin:
    """Columns of an outbox row shared by its list and the escalation page's inline."""

    @admin.display(description=_("kind"), ordering="kind")
    def kind_in_words(self, message):
        return labels.outbox_kind_label(message.kind)

    @admin.display(description=_("last error"))
    def last_error_short(self, message):
        if not message.last_error:
            return "—"
        return format_html(
            '<span title="{}">{}</span>',
            message.last_error,
            Truncator(message.last_error).chars(80),
        )


@admin.register(OutboxMessage)
class OutboxMessageAdmin(
    SearchByIdsMixin,
    OutboxColumnsMixin,
    CaseLinkColumnMixin,
    PlainForeignKeysMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    list_display = [
        "created_at",
        "to",
        "kind_in_words",
        "subject",
        "status",
        "attempts",
        "last_error_short",
        "sent_at",
        "case_link",
    ]
    list_filter = [
        "status",
        filter_in_words("kind", _("kind"), labels.OUTBOX_KIND_LABELS),
        "created_at",
    ]
    list_select_related = ["case"]
    search_fields = ["to", "subject", "=case__number"]
    # Newest first by the primary key's index: the model's "-created_at" has none, and
    # would sort the whole outbox for every page.
    ordering = ["-pk"]
    list_per_page = 50
    paginator = CasePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["send_again"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "kind_in_words",
                    "to",
                    "language",
                    "subject",
                    "status",
                    "attempts",
                    "last_error",
                    "created_at",
                    "next_attempt_at",
                    "sent_at",
                    "case",
                    "escalation",
                ]
            },
        ),
        (_("Message"), {"fields": ["message_id", "dedupe_key", "text_as_sent", "html_as_sent"]}),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]]

    @admin.display(description=_("plain text"))
    def text_as_sent(self, message):
        return without_tokens(message.text)

    @admin.display(description=_("HTML"))
    def html_as_sent(self, message):
        return without_tokens(message.html)

    def has_resend_permission(self, request):
        # `change_outboxmessage` opens this action only: the page itself stays read-only.
        return request.user.has_perm("cases.change_outboxmessage")

    @admin.action(description=_("Send again"), permissions=["resend"])
    def send_again(self, request, queryset):
        """Failed messages back to pending with a fresh attempt budget, delivered through
        the outbox service; anything else selected is left as it is, and said so."""
        outcome = outbox_messages_resend(
            message_pks=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        if outcome.resent:
            count = len(outcome.resent)
            self.message_user(
                request,
                ngettext(
                    "%(count)d failed message will be sent again.",
                    "%(count)d failed messages will be sent again.",
                    count,
                )
                % {"count": count},
                messages.SUCCESS,
            )
        if outcome.not_failed:
            count = outcome.not_failed
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected message had not failed and was left as it is.",
                    "%(count)d selected messages had not failed and were left as they are.",
                    count,
                )
                % {"count": count},
                messages.WARNING,
            )
        if outcome.outdated:
            count = outcome.outdated
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected escalation email was not sent again: its case has "
                    "moved on from that deadline since (acted on, closed or cancelled).",
                    "%(count)d selected escalation emails were not sent again: their cases "
                    "have moved on from those deadlines since (acted on, closed or cancelled).",
                    count,
                )
                % {"count": count},
                messages.WARNING,
            )
        if outcome.bad_addresses:
            self.message_user(
                request,
                gettext("Not sent again, not an email address: %(addresses)s")
                % {"addresses": wording.join_names(outcome.bad_addresses)},
                messages.ERROR,
            )
