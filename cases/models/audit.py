"""The append-only audit trail of cases (SPEC §2): every transition and every
acknowledged action, with actor, time, from, to and comment."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from cases.models.case import Case

# What the system itself writes as a comment, stored in English and read in the reader's
# language (`CaseEvent.shown_comment`): translated when written, it was in the language of
# whoever caused it.
SYSTEM_COMMENTS = frozenset(
    {
        gettext_noop("Routed again after a correction."),
        gettext_noop("Returned to the pool after a correction: no single lead department."),
    }
)


# A return a department made (a dispute, by its liaison), not the system's return of a
# correction that sent its case back to the pool, which has no actor (and says
# `correction` in its data). The actor, a column, is what the roll-ups count by: the
# supervision figures with this, the dashboard's SQL (`cases.services.figures`) likewise.
DEPARTMENT_RETURN = models.Q(action="return", actor__isnull=False)


class CaseEventQuerySet(models.QuerySet):
    def department_returns(self):
        """The returns a department made (disputes): `DEPARTMENT_RETURN`."""
        return self.filter(DEPARTMENT_RETURN)


class CaseEvent(models.Model):
    """One row of the append-only audit trail: every transition and every acknowledged
    action on a case. Rows are never updated or deleted."""

    # Indexed by event_case_at, which leads with the case.
    case = models.ForeignKey(
        Case,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        verbose_name=_("case"),
    )
    action = models.CharField(_("action"), max_length=32)
    from_state = models.CharField(_("from"), max_length=16, blank=True)
    to_state = models.CharField(_("to"), max_length=16, blank=True)
    # Indexed by event_actor_at, which leads with the actor.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("actor"),
    )
    # Who acted when it was not a signed-in user: "system", or an address from a signed link.
    actor_label = models.CharField(_("actor label"), max_length=254, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = CaseEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        indexes = [
            models.Index(fields=["case", "at"], name="event_case_at"),
            # A user's latest steps (the admin index's "Recent actions", recent_steps_of),
            # newest first from the index; it replaces the actor's plain index, so an
            # insert writes no more than before.
            models.Index(fields=["actor", "at"], name="event_actor_at"),
            # The audit trail filtered by action (the supervision page's links to a
            # department's accepts, reopens and returns), newest first. Without the report
            # and route every case has: a report writes no entry, and a filter naming one
            # of them reads by time as before.
            models.Index(
                fields=["action", "at"],
                condition=~models.Q(action__in=["report", "route"]),
                name="event_action_at",
            ),
        ]

    def __str__(self):
        from cases.labels import action_label  # cases.labels reads this module's states

        # Shown to people (the admin's timeline rows): the reader's format, not ISO.
        when = date_format(timezone.localtime(self.at), "SHORT_DATETIME_FORMAT")
        return f"{when} {action_label(self.action)}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("Audit rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Audit rows are append-only.")

    @property
    def shown_comment(self) -> str:
        """The comment as its reader reads it: the system's own in their language."""
        return gettext(self.comment) if self.comment in SYSTEM_COMMENTS else self.comment

    @property
    def actor_display(self) -> str:
        """The user, or the label; the system itself is named in the reader's language."""
        if self.actor_id:
            return str(self.actor)
        label = self.actor_label or "system"
        return gettext("system") if label == "system" else label
