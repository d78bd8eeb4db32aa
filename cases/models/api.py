"""Keys of the Open311 GeoReport v2 API (SPEC §7) and the log of what each key posted."""

import uuid

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models.case import Case


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


# Ten a second: room for a hotline's backlog sent in a burst, a bound on a runaway client.
DEFAULT_POSTS_PER_MINUTE = 600


class ApiKey(models.Model):
    """A client's key. Only a SHA-256 digest of the secret is kept; the short `prefix` is
    not secret and finds the row without scanning (cases/services/apikeys.py)."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        default=DEFAULT_POSTS_PER_MINUTE,
        # A key allowed none could never post: every request a 429 to retry in vain.
        validators=[MinValueValidator(1)],
        help_text=_("Service requests this key may post per minute; more are refused (429)."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("Open311 API key")
        verbose_name_plural = _("Open311 API keys")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiRequest(models.Model):
    """One service request posted over Open311 with a valid key, accepted or refused.

    Also keeps what a Case has no column for (the reporter's email, the client's device and
    account ids, a media URL) and the token that `tokens/<token>` resolves.
    """

    token = models.UUIDField(_("token"), default=uuid.uuid4, unique=True, editable=False)
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.PROTECT, related_name="requests", verbose_name=_("API key")
    )
    case = models.OneToOneField(
        Case,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="open311_request",
        verbose_name=_("case"),
    )
    service_code = models.CharField(_("service code"), max_length=32)
    email = models.EmailField(_("reporter email"), blank=True)
    device_id = models.CharField(_("device id"), max_length=100, blank=True)
    account_id = models.CharField(_("account id"), max_length=100, blank=True)
    media_url = models.URLField(_("media URL"), max_length=1000, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    # What the API answered: 200 with a case, or the error status of a refused post.
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), default=200)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("Open311 request")
        verbose_name_plural = _("Open311 requests")

    def __str__(self):
        return str(self.token)
