"""The cases changelist's own filters: by deadline, and by whose decision a case waits for."""

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import CLOCK_STATES, ExtensionRequest
from cases.selectors.lists import awaiting_report_for_duty
from cases.services import arbitration
from departments.models import User


class OverdueFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("overdue")),
            ("soon", _("due soon")),
            ("on_time", _("on time")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.overdue(now)
        if self.value() == "soon":
            return queryset.filter(state__in=CLOCK_STATES, due_at__gt=now, remind_at__lte=now)
        if self.value() == "on_time":
            return queryset.filter(state__in=CLOCK_STATES, remind_at__gt=now)
        return queryset


class WaitingForFilter(admin.SimpleListFilter):
    """Cases waiting for someone's decision: arbitration, an extension, a report for duty."""

    title = _("waiting for")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [
            ("arbitration", _("arbitration")),
            ("extension", _("an extension decision")),
            ("report_for_duty", _("a report for duty")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "arbitration":
            return arbitration.awaiting_arbitration(queryset)
        if self.value() == "extension":
            pending = ExtensionRequest.objects.filter(
                case=OuterRef("pk"), status=ExtensionRequest.Status.PENDING
            )
            return queryset.filter(Exists(pending))
        if self.value() == "report_for_duty":
            # A liaison's queue: the summonses their own department has to answer.
            liaison = request.user.has_role(User.Role.LIAISON)
            department_id = request.user.department_id if liaison else None
            return awaiting_report_for_duty(queryset, department_id=department_id)
        return queryset
