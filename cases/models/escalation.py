"""Escalations of overdue cases, the email outbox, and the sweep's own heartbeat (SPEC §4).

Detecting that a deadline passed is kept apart from telling people about it: the sweep
(cases/services/escalation.py) writes `Escalation` rows and, in the same transaction,
`OutboxMessage` rows; Celery tasks (cases/tasks.py) deliver the messages afterwards.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.models.case import Case
from departments.models import Department, Township


class EscalationLevel(models.IntegerChoices):
    # Level 0 is the "due soon" reminder at 75 % of the limit; 1–3 are the ladder.
    REMINDER = 0, _("due-soon reminder")
    # Translators: levels 1-3 as the escalation emails and the acknowledge page name
    # them ("Level %(level)s escalation"), so the admin and the audit trail agree with
    # them: in Chinese a digit and 级 ("1 级", as in "1 级督办"), not "一级".
    LEVEL_1 = 1, _("level 1")
    LEVEL_2 = 2, _("level 2")
    LEVEL_3 = 3, _("level 3")


class Escalation(models.Model):
    """One rung of the ladder reached by one deadline of one case: written once, ever.

    The unique (case, deadline_seq, level) constraint is what makes overlapping sweeps,
    redelivered tasks and restarted workers harmless: the sweep inserts with
    "on conflict do nothing" and only acts on the rows it inserted itself (its `sweep_id`).
    """

    # Indexed by the unique (case, deadline_seq, level) constraint, which leads with it.
    case = models.ForeignKey(
        Case,
        on_delete=models.PROTECT,
        related_name="escalations",
        verbose_name=_("case"),
        db_index=False,
    )
    deadline_seq = models.PositiveIntegerField(_("deadline number"))
    deadline_kind = models.CharField(_("deadline"), max_length=10)
    level = models.PositiveSmallIntegerField(_("level"), choices=EscalationLevel.choices)
    # The moment this rung became due (the case's due_at, escalate_2_at, … at the time).
    due_at = models.DateTimeField(_("due at"))
    # The case's deadline (level 1 moment), to say how long it is overdue.
    deadline_at = models.DateTimeField(_("deadline"))
    created_at = models.DateTimeField(_("escalated at"), default=timezone.now)
    sweep_id = models.UUIDField(_("sweep"), db_index=True, editable=False)
    # The owner when it escalated: a department, or the township's pool when null.
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("department"),
    )
    township = models.ForeignKey(
        Township, on_delete=models.PROTECT, related_name="+", verbose_name=_("township")
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by_email = models.EmailField(_("acknowledged by"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.UniqueConstraint(
                fields=["case", "deadline_seq", "level"], name="escalation_once_per_level"
            ),
        ]

    def __str__(self):
        from cases.labels import deadline_label  # cases.labels reads this package's states

        # The admin's title of the page: the case as people know it, the rung in words.
        return gettext("%(case)s: %(deadline)s deadline, %(level)s") % {
            "case": self.case.number,
            "deadline": deadline_label(self.deadline_kind),
            "level": self.get_level_display(),
        }


class OutboxMessage(models.Model):
    """One email to one address, written in the same transaction as the change that causes
    it and delivered afterwards by `cases.tasks.send_outbox_message` (see
    `cases/services/outbox/`). `dedupe_key` makes writing it idempotent; `message_id` is
    the stable Message-ID header, so a rare SMTP-level duplicate is recognisable."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        # Not sent: an escalation or reminder whose case moved on from that deadline
        # (acted on, closed, cancelled) before its delivery; it would call someone to a
        # case that no longer waits.
        OUTDATED = "outdated", _("outdated")

    kind = models.CharField(_("kind"), max_length=32)
    # Unique through Meta.constraints: a unique=True CharField would also get a LIKE
    # index on PostgreSQL, which nothing uses and every sweep would pay for per row.
    dedupe_key = models.CharField(_("deduplication key"), max_length=255)
    message_id = models.CharField(_("Message-ID"), max_length=255)
    # Not "to": that word is the audit trail's "to state", and translated as such.
    to = models.EmailField(_("recipient"))
    language = models.CharField(_("language"), max_length=8, blank=True)
    subject = models.CharField(_("subject"), max_length=255)
    text = models.TextField(_("plain text"))
    html = models.TextField(_("HTML"), blank=True)
    # No database constraint: the case is a copy for lookups (an escalation's email names
    # its escalation, whose constraint holds the case, and every case with email has
    # protected audit rows), and checking it cost the sweep one lookup per email.
    # PROTECT still holds in the ORM.
    case = models.ForeignKey(
        Case,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        verbose_name=_("case"),
    )
    escalation = models.ForeignKey(
        Escalation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("escalation"),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # When a delivery task should have picked it up at the latest; the sweep re-queues
    # pending rows whose moment has long passed (a lost broker message, a killed worker).
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outgoing email")
        verbose_name_plural = _("outgoing emails")
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="outbox_dedupe_key_unique"),
            models.UniqueConstraint(fields=["message_id"], name="outbox_message_id_unique"),
        ]
        indexes = [
            # Used by the sweep's re-queue of stuck messages (cases/services/outbox/publishing.py).
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self):
        return f"{self.kind} → {self.to} ({self.status})"


class SweepRun(models.Model):
    """One run of the escalation sweep, committed before the work starts, so that a sweep
    that started and never finished is visible (`cases.selectors.health.last_sweep_status`)."""

    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    clock = models.DateTimeField(
        _("clock"), help_text=_("The moment the sweep compared deadlines with.")
    )
    escalated = models.PositiveIntegerField(_("escalations"), default=0)
    reminded = models.PositiveIntegerField(_("reminders"), default=0)
    messages = models.PositiveIntegerField(_("emails"), default=0)
    requeued = models.PositiveIntegerField(_("emails re-queued"), default=0)
    error = models.TextField(_("error"), blank=True)
    # The `Escalation.sweep_id` of the rows this run wrote (empty for runs before it was kept).
    sweep_id = models.UUIDField(_("sweep"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("escalation sweep")
        verbose_name_plural = _("escalation sweeps")

    def __str__(self):
        # The admin's title of the run: its start in TIME_ZONE, as the fields beside it.
        return gettext("escalation sweep %(started)s") % {
            "started": f"{timezone.localtime(self.started_at):%Y-%m-%d %H:%M:%S}"
        }
